-- Media that registered (not dropped) versions use: gc never deletes these.
SELECT DISTINCT m.sha256
FROM dataset_version_media m
JOIN dataset_versions v ON v.version_id = m.version_id
WHERE v.dropped_at IS NULL;
