-- One verdict per annotation checked under the chosen checks version: passed = every enabled rule passed.
CREATE OR REPLACE VIEW checks_verdicts AS
SELECT c.annotation_id, c.checks_version, bool_and(c.passed) AS passed,
       list(c.rule ORDER BY c.rule) FILTER (WHERE NOT c.passed) AS failed_rules
FROM annotation_checks c
JOIN checks_chosen v ON v.checks_version = c.checks_version
GROUP BY c.annotation_id, c.checks_version;
