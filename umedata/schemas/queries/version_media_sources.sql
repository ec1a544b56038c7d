-- Where the warehouse keeps each medium a new version needs (relation media_refs(sha256, relpath)): the file the
-- build copies into the media store when the store does not have it yet.
SELECT r.sha256, r.relpath, m.path AS source_path
FROM media_refs r
LEFT JOIN media m ON m.sha256 = r.sha256
ORDER BY r.relpath;
