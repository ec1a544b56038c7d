-- Each build records the fingerprint of what it was built from (umedata/versions/fingerprint.py): the selection
-- (pair ids and annotations) and whatever else decides the rows (format, eval sets, the gate's state, the SQL that
-- assembles them). A later build with the same fingerprint reuses the version without assembling a row. NULL for
-- builds made before fingerprints were recorded.
ALTER TABLE dataset_version_builds ADD COLUMN fingerprint VARCHAR;
