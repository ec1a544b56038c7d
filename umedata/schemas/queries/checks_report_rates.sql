-- Pass rate of one checks version per dataset and rule ('(all rules)' = the annotation's verdict), over every
-- annotation the version checked. An annotation counts in each dataset whose pairs use its side.
-- Parameters: $checks_version.
WITH side_datasets AS (
    SELECT DISTINCT side_id, dataset_name FROM (
        SELECT qry_side_id AS side_id, dataset_name FROM pairs UNION ALL SELECT pos_side_id, dataset_name FROM pairs)
),
checked AS (
    SELECT c.annotation_id, c.rule, c.passed, coalesce(d.dataset_name, '(no pair)') AS dataset_name
    FROM annotation_checks c
    JOIN annotations a ON a.annotation_id = c.annotation_id
    LEFT JOIN side_datasets d ON d.side_id = a.side_id
    WHERE c.checks_version = $checks_version
),
verdicts AS (
    SELECT dataset_name, annotation_id, '(all rules)' AS rule, bool_and(passed) AS passed
    FROM checked GROUP BY dataset_name, annotation_id
)
SELECT dataset_name, rule, count(*) AS checked, count(*) FILTER (WHERE NOT passed) AS failed,
       round(avg(CAST(passed AS DOUBLE)), 4) AS pass_rate
FROM (SELECT dataset_name, annotation_id, rule, passed FROM checked UNION ALL SELECT * FROM verdicts)
GROUP BY dataset_name, rule
ORDER BY dataset_name, rule;
