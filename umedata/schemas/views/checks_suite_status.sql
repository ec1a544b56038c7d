-- Batch suites under the chosen checks version, per batch: did every suite pass, and has a user overridden a
-- failure (who, why, when). A batch that failed without an override cannot be promoted into a dataset version.
CREATE OR REPLACE VIEW checks_suite_status AS
SELECT s.batch_id, s.checks_version,
       bool_and(s.success) AS success,
       list(s.suite ORDER BY s.suite) FILTER (WHERE NOT s.success) AS failed_suites,
       any_value(o.who) AS override_who, any_value(o.why) AS override_why, any_value(o.overridden_at) AS override_at,
       max(s.evaluated_at) AS evaluated_at
FROM checks_suites s
JOIN checks_chosen v ON v.checks_version = s.checks_version
LEFT JOIN checks_overrides o ON o.batch_id = s.batch_id AND o.checks_version = s.checks_version
GROUP BY s.batch_id, s.checks_version;
