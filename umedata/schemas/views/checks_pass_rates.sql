-- Pass rate of the chosen checks version per dataset, modality, teacher model and prompt version. An annotation
-- counts in every dataset whose pairs use its side.
CREATE OR REPLACE VIEW checks_pass_rates AS
WITH verdicts AS (
    SELECT c.annotation_id, bool_and(c.passed) AS passed
    FROM annotation_checks c JOIN checks_chosen v ON v.checks_version = c.checks_version
    GROUP BY c.annotation_id
),
side_datasets AS (
    SELECT DISTINCT side_id, dataset_name, modality FROM (
        SELECT qry_side_id AS side_id, dataset_name, modality FROM pairs
        UNION ALL SELECT pos_side_id, dataset_name, modality FROM pairs)
)
SELECT d.dataset_name, d.modality, a.model, a.prompt_version,
       count(*) AS annotations,
       count(*) FILTER (WHERE v.passed) AS passed,
       round(count(*) FILTER (WHERE v.passed) / count(*), 4) AS pass_rate
FROM verdicts v
JOIN annotations a ON a.annotation_id = v.annotation_id
JOIN side_datasets d ON d.side_id = a.side_id
GROUP BY ALL;
