-- The latest registered (not dropped) version built under a name, other than $exclude: the default parent of the
-- next build.
SELECT b.version_id
FROM dataset_version_builds b
JOIN dataset_versions v ON v.version_id = b.version_id
WHERE b.name = $name AND v.dropped_at IS NULL AND b.version_id <> $exclude
ORDER BY b.built_at DESC, b.build_id DESC
LIMIT 1;
