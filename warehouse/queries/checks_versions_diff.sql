-- What did a threshold change do? Annotations whose verdict differs between the two most recent checks versions
-- (or name two versions on the first lines).
-- duckdb -readonly warehouse/umedata.duckdb < warehouse/queries/checks_versions_diff.sql
SET VARIABLE new_version = (SELECT checks_version FROM checks_versions ORDER BY created_at DESC LIMIT 1);
SET VARIABLE old_version = (SELECT checks_version FROM checks_versions ORDER BY created_at DESC LIMIT 1 OFFSET 1);
WITH verdicts AS (
    SELECT annotation_id, checks_version, bool_and(passed) AS passed,
           list(rule ORDER BY rule) FILTER (WHERE NOT passed) AS failed_rules
    FROM annotation_checks
    WHERE checks_version IN (getvariable('old_version'), getvariable('new_version'))
    GROUP BY ALL
)
SELECT o.annotation_id, o.passed AS passed_before, n.passed AS passed_after,
       o.failed_rules AS failed_before, n.failed_rules AS failed_after
FROM verdicts o
JOIN verdicts n ON n.annotation_id = o.annotation_id
WHERE o.checks_version = getvariable('old_version') AND n.checks_version = getvariable('new_version')
  AND o.passed <> n.passed
ORDER BY n.passed, o.annotation_id;
