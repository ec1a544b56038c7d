-- Remember where a copy of a version was exported (gc never touches exports).
INSERT OR REPLACE INTO dataset_version_exports VALUES ($version_id, $dest, $layout, now());
