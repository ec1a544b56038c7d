-- How many annotations would another threshold reject? Stored values of the chosen checks version against a
-- threshold of your own, per dataset: nothing is measured or recorded. Change the two lines below.
-- duckdb -readonly warehouse/umedata.duckdb < warehouse/queries/checks_what_if.sql
SET VARIABLE rule = 'long_reasoning';
SET VARIABLE threshold = 1024;
WITH side_datasets AS (
    SELECT DISTINCT side_id, dataset_name FROM (
        SELECT qry_side_id AS side_id, dataset_name FROM pairs UNION ALL SELECT pos_side_id, dataset_name FROM pairs)
)
SELECT d.dataset_name, c.rule, r.op, c.threshold AS current_threshold, getvariable('threshold') AS new_threshold,
       count(*) AS checked,
       count(*) FILTER (WHERE NOT c.passed) AS failing_now,
       count(*) FILTER (WHERE CASE WHEN r.op = 'max' THEN c.value > getvariable('threshold')
                                   ELSE c.value < getvariable('threshold') END) AS failing_then
FROM annotation_checks c
JOIN checks_chosen v ON v.checks_version = c.checks_version
JOIN checks_rules r ON r.checks_version = c.checks_version AND r.rule = c.rule
JOIN annotations a ON a.annotation_id = c.annotation_id
JOIN side_datasets d ON d.side_id = a.side_id
WHERE c.rule = getvariable('rule')
GROUP BY ALL
ORDER BY d.dataset_name;
