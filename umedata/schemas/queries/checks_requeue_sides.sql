-- Sides to send back to the teacher: a side with an annotation that failed a check of the chosen checks version
-- (one of $rules, or any rule when $rules is NULL) and without any validated annotation (a side that has a good
-- one is not paid for again).
-- Parameters: $rules (VARCHAR[] or NULL), $datasets (VARCHAR[] or NULL), $limit (NULL = all).
WITH selected_sides AS (
    SELECT qry_side_id AS side_id FROM pairs WHERE list_contains($datasets, dataset_name)
    UNION ALL
    SELECT pos_side_id FROM pairs WHERE list_contains($datasets, dataset_name)
)
SELECT f.side_id, list(DISTINCT f.rule ORDER BY f.rule) AS failed_rules, count(DISTINCT f.annotation_id) AS annotations
FROM checks_failures f
WHERE ($rules IS NULL OR list_contains($rules, f.rule))
  AND ($datasets IS NULL OR f.side_id IN (SELECT side_id FROM selected_sides))
  AND f.side_id NOT IN (SELECT side_id FROM validated_annotations)
GROUP BY f.side_id
ORDER BY f.side_id
LIMIT $limit;
