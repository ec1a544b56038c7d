-- Values already measured for the annotations of a page under the same measure keys (any checks version): a
-- threshold change re-evaluates these instead of measuring again.
-- Relations supplied by the caller: page_ids(annotation_id, side_id), wanted(rule, measure_key).
SELECT c.annotation_id, c.rule, any_value(c.value) AS value, any_value(c.detail) AS detail
FROM annotation_checks c
JOIN checks_rules k ON k.checks_version = c.checks_version AND k.rule = c.rule
JOIN wanted w ON w.rule = k.rule AND w.measure_key = k.measure_key
WHERE c.annotation_id IN (SELECT annotation_id FROM page_ids)
GROUP BY c.annotation_id, c.rule;
