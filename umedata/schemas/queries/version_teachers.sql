-- Teacher models and prompt versions behind a version's annotations (relation version_rows): distinct sides each
-- annotated, and rows that use it on either side.
WITH used AS (
    SELECT qry_teacher_model AS model, qry_prompt_version AS prompt_version, qry_side_id AS side_id, pair_id
    FROM version_rows
    UNION ALL
    SELECT pos_teacher_model, pos_prompt_version, pos_side_id, pair_id FROM version_rows
)
SELECT model, prompt_version, count(DISTINCT side_id) AS sides, count(DISTINCT pair_id) AS pairs
FROM used
GROUP BY model, prompt_version
ORDER BY model, prompt_version;
