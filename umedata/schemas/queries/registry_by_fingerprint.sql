-- The registered (not dropped) version the latest build with this fingerprint produced: a build whose selection
-- fingerprint matches finds its rows there without assembling them.
SELECT b.version_id
FROM dataset_version_builds b
JOIN dataset_versions v ON v.version_id = b.version_id
WHERE b.fingerprint = $fingerprint AND v.dropped_at IS NULL
ORDER BY b.built_at DESC, b.build_id DESC
LIMIT 1;
