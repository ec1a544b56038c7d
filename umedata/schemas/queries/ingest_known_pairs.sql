-- The pairs one source already has: ingest stages none of them again.
SELECT pair_id FROM pairs WHERE source = $source
