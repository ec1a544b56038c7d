-- The promotion gate of a dataset version: every batch the chosen annotations came in, with its suite results under
-- the chosen checks version and any override. No row when no checks version is chosen (no gate has run).
-- Relation supplied by the caller: kept(..., qry_annotation_id, pos_annotation_id), the rows of the version.
WITH chosen_annotations AS (
    SELECT qry_annotation_id AS annotation_id FROM kept
    UNION
    SELECT pos_annotation_id FROM kept
),
batches AS (
    SELECT b.batch_id, count(*) AS annotations
    FROM checks_batches b
    WHERE b.annotation_id IN (SELECT annotation_id FROM chosen_annotations)
    GROUP BY b.batch_id
)
SELECT b.batch_id, b.annotations, v.checks_version, s.suite, s.success, s.failed, s.given, s.results,
       o.who AS override_who, o.why AS override_why, o.overridden_at
FROM batches b
CROSS JOIN checks_chosen v
LEFT JOIN checks_suites s ON s.batch_id = b.batch_id AND s.checks_version = v.checks_version
LEFT JOIN checks_overrides o ON o.batch_id = b.batch_id AND o.checks_version = v.checks_version
ORDER BY b.batch_id, s.suite;
