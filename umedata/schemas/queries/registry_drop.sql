-- Unregister a version: its files stay until `versions gc`, its builds stay as history.
UPDATE dataset_versions SET dropped_at = now() WHERE version_id = $version_id AND dropped_at IS NULL;
