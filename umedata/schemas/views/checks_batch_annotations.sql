-- checks_batch_annotations(batch): every annotation (all its columns) of one batch, the batch as checks_batches
-- names it (a teacher run id, or 'import:' || origin). The batch suites read their rows through it.
CREATE OR REPLACE MACRO checks_batch_annotations(batch) AS TABLE
SELECT a.*
FROM annotations a
LEFT JOIN teacher_requests r ON r.request_key = a.request_key
WHERE coalesce(r.run_id, 'import:' || a.origin) = batch;
