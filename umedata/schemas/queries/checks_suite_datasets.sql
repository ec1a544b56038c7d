-- The aggregated table of one batch for the batch suite (batch_datasets.json): one row per dataset whose pairs
-- use the batch's sides, over every annotation of the batch. An annotation counts in each of its side's datasets;
-- sides used by no pair are counted under '(no pair)'.
-- Parameters: $batch_id, $checks_version.
WITH batch AS (
    SELECT * FROM checks_batch_annotations($batch_id)
),
verdict AS (
    SELECT c.annotation_id, bool_and(c.passed) AS passed
    FROM annotation_checks c
    WHERE c.checks_version = $checks_version AND c.annotation_id IN (SELECT annotation_id FROM batch)
    GROUP BY c.annotation_id
),
side_datasets AS (
    SELECT DISTINCT side_id, dataset_name FROM (
        SELECT qry_side_id AS side_id, dataset_name FROM pairs UNION ALL SELECT pos_side_id, dataset_name FROM pairs)
    WHERE side_id IN (SELECT side_id FROM batch)
)
SELECT coalesce(d.dataset_name, '(no pair)') AS dataset_name,
       count(*) AS annotations,
       count(*) - count(DISTINCT b.annotation_id) AS duplicate_keys,
       count(*) FILTER (WHERE v.annotation_id IS NULL) AS unchecked,
       round(avg(CAST(v.passed AS DOUBLE)), 4) AS pass_rate,
       avg(CAST(b.reasoning IS NULL AS DOUBLE)) AS null_reasoning_rate,
       avg(CAST(b.summary IS NULL AS DOUBLE)) AS null_summary_rate
FROM batch b
LEFT JOIN side_datasets d ON d.side_id = b.side_id
LEFT JOIN verdict v ON v.annotation_id = b.annotation_id
GROUP BY 1
ORDER BY 1;
