-- Record a build and, on first sight, its version. Relations: new_version, new_media, new_build (one build row).
-- A registered version is never rewritten; one rebuilt after `versions drop` is live again, at its new path.
INSERT OR IGNORE INTO dataset_versions BY NAME SELECT * FROM new_version;
UPDATE dataset_versions
SET dropped_at = NULL, parents = n.parents, path = n.path, media_root = n.media_root, manifest = n.manifest
FROM new_version n
WHERE dataset_versions.version_id = n.version_id AND dataset_versions.dropped_at IS NOT NULL;
INSERT OR IGNORE INTO dataset_version_media BY NAME SELECT * FROM new_media;
INSERT INTO dataset_version_builds BY NAME SELECT * FROM new_build;
