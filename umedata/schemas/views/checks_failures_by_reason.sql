-- Failures of the chosen checks version per dataset and rule, with their share of the dataset's checked
-- annotations. An annotation failing two rules counts under both.
CREATE OR REPLACE VIEW checks_failures_by_reason AS
WITH side_datasets AS (
    SELECT DISTINCT side_id, dataset_name FROM (
        SELECT qry_side_id AS side_id, dataset_name FROM pairs UNION ALL SELECT pos_side_id, dataset_name FROM pairs)
),
checked AS (
    SELECT d.dataset_name, c.annotation_id, c.rule, c.passed
    FROM annotation_checks c
    JOIN checks_chosen v ON v.checks_version = c.checks_version
    JOIN annotations a ON a.annotation_id = c.annotation_id
    JOIN side_datasets d ON d.side_id = a.side_id
)
SELECT dataset_name, rule,
       count(*) FILTER (WHERE NOT passed) AS failures,
       count(DISTINCT annotation_id) AS checked,
       round(count(*) FILTER (WHERE NOT passed) / count(DISTINCT annotation_id), 4) AS share
FROM checked
GROUP BY ALL
HAVING count(*) FILTER (WHERE NOT passed) > 0;
