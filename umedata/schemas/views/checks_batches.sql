-- The batch every annotation came in: the teacher run that answered its request, or its import
-- ('import:' || origin, e.g. import:ume_r1/MovingShapesV2T/train.json). Batch suites and the promotion gate work
-- per batch.
CREATE OR REPLACE VIEW checks_batches AS
SELECT a.annotation_id, a.side_id, a.model, a.prompt_version,
       coalesce(r.run_id, 'import:' || a.origin) AS batch_id
FROM annotations a
LEFT JOIN teacher_requests r ON r.request_key = a.request_key;
