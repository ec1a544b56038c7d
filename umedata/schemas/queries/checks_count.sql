-- How many annotations a validate will check (the same filters as checks_annotations.sql, without paging).
-- Parameters: $batch, $datasets, $skip_version.
WITH selected_sides AS (
    SELECT qry_side_id AS side_id FROM pairs WHERE list_contains($datasets, dataset_name)
    UNION ALL
    SELECT pos_side_id FROM pairs WHERE list_contains($datasets, dataset_name)
)
SELECT count(*) AS n
FROM annotations a
LEFT JOIN teacher_requests r ON r.request_key = a.request_key
WHERE ($batch IS NULL OR coalesce(r.run_id, 'import:' || a.origin) = $batch)
  AND ($datasets IS NULL OR a.side_id IN (SELECT side_id FROM selected_sides))
  AND ($skip_version IS NULL OR NOT EXISTS (
      SELECT 1 FROM annotation_checks c
      WHERE c.annotation_id = a.annotation_id AND c.checks_version = $skip_version AND c.rule = 'format'));
