-- One page of the annotations a validate checks, in annotation_id order (keyset paging: $after is the last id of
-- the previous page, '' for the first), with what the rules read: the side's own text, how the teacher finished
-- (NULL for imported annotations) and the batch it came in.
-- Parameters: $after, $page, $batch (a batch id, NULL = every batch), $datasets (VARCHAR[], NULL = every dataset),
--             $skip_version (skip annotations this checks version has already checked; NULL = check them all).
WITH selected_sides AS (
    SELECT qry_side_id AS side_id FROM pairs WHERE list_contains($datasets, dataset_name)
    UNION ALL
    SELECT pos_side_id FROM pairs WHERE list_contains($datasets, dataset_name)
)
SELECT a.annotation_id, a.side_id, a.model, a.prompt_version, a.reasoning, a.summary, a.format_status,
       s.text, s.modality, r.finish_reason, coalesce(r.run_id, 'import:' || a.origin) AS batch_id
FROM annotations a
JOIN sides s ON s.side_id = a.side_id
LEFT JOIN teacher_requests r ON r.request_key = a.request_key
WHERE a.annotation_id > $after
  AND ($batch IS NULL OR coalesce(r.run_id, 'import:' || a.origin) = $batch)
  AND ($datasets IS NULL OR a.side_id IN (SELECT side_id FROM selected_sides))
  AND ($skip_version IS NULL OR NOT EXISTS (
      SELECT 1 FROM annotation_checks c
      WHERE c.annotation_id = a.annotation_id AND c.checks_version = $skip_version AND c.rule = 'format'))
ORDER BY a.annotation_id
LIMIT $page;
