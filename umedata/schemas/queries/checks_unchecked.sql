-- Annotations a checks version has not checked (they would not be validated if it were chosen).
-- Parameters: $checks_version.
SELECT count(*) AS n
FROM annotations a
WHERE NOT EXISTS (SELECT 1 FROM annotation_checks c
                  WHERE c.annotation_id = a.annotation_id AND c.checks_version = $checks_version AND c.rule = 'format');
