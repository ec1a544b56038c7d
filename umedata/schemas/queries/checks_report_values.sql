-- Values of the histogram rules under one checks version, at most $n per rule (in hash order of the annotation id,
-- so the same version gives the same picture).
-- Parameters: $checks_version, $rules (VARCHAR[]), $n.
SELECT rule, value
FROM annotation_checks
WHERE checks_version = $checks_version AND list_contains($rules, rule) AND value IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY rule ORDER BY hash(annotation_id), annotation_id) <= $n;
