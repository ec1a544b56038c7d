-- Every version the registry knows, live or dropped, and where it lives.
SELECT version_id, path, dropped_at IS NULL AS live FROM dataset_versions;
