-- A seeded sample of one batch's annotations for the row suite (annotation_rows.json), with the values the
-- checks version measured. The sample is the first $n rows in the order of a hash of the annotation id: the same
-- batch gives the same sample, and it is spread over the whole batch.
-- Parameters: $batch_id, $checks_version, $n.
WITH batch AS (
    SELECT * FROM checks_batch_annotations($batch_id)
),
sample AS (
    SELECT * FROM batch ORDER BY hash(annotation_id), annotation_id LIMIT $n
),
wide AS (
    SELECT c.annotation_id, bool_and(c.passed) AS passed,
           max(c.value) FILTER (WHERE c.rule = 'long_reasoning') AS reasoning_tokens,
           max(c.value) FILTER (WHERE c.rule = 'long_summary') AS summary_tokens,
           max(c.value) FILTER (WHERE c.rule = 'repetition') AS repetition
    FROM annotation_checks c
    WHERE c.checks_version = $checks_version AND c.annotation_id IN (SELECT annotation_id FROM sample)
    GROUP BY c.annotation_id
)
SELECT s.annotation_id, s.side_id, s.request_key, s.model, s.reasoning, s.summary, s.raw, s.format_status,
       w.reasoning_tokens, w.summary_tokens, w.repetition, CAST(w.passed AS DOUBLE) AS passed
FROM sample s
LEFT JOIN wide w ON w.annotation_id = s.annotation_id;
