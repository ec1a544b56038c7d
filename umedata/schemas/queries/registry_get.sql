-- One registered version, with every name it was built under and its number of builds.
SELECT v.*, list(DISTINCT b.name ORDER BY b.name) FILTER (WHERE b.name IS NOT NULL) AS names,
       count(b.build_id) AS builds, max(b.built_at) AS last_built_at
FROM dataset_versions v
LEFT JOIN dataset_version_builds b ON b.version_id = v.version_id
WHERE v.version_id = $version_id
GROUP BY ALL;
