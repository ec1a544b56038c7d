-- Content-addressed files the warehouse itself points at (ingest may keep its media in the same store): gc never
-- deletes these, used by a version or not.
SELECT path FROM media WHERE path IS NOT NULL AND contains(path, sha256);
