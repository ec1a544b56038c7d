-- The sources row of one source as registered (ingest compares it with the configuration it is given).
SELECT layout, root, licence, provenance, allow_external_teacher, options::VARCHAR AS options, registered_at
FROM sources
WHERE name = $name
