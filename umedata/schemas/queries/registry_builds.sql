-- Every build that produced a version (several selections may give the same rows, hence the same id).
SELECT build_id, version_id, name, query_name, query_sql, filters, wrote_files, code_version, built_at
FROM dataset_version_builds
WHERE version_id = $version_id
ORDER BY built_at, build_id;
