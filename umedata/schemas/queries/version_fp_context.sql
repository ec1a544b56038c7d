-- Whatever else decides a version's rows or its gate, for the build fingerprint: the registered eval sets
-- (decontamination leaves out what they contain) and the quality gate's state under the chosen checks version
-- (suite results and overrides). Small tables; any change means the next build assembles its rows again.
SELECT 'eval_set' AS part, name || ':' || content_id AS item FROM eval_sets
UNION ALL
SELECT 'checks', checks_version || ':' || chosen_at::VARCHAR FROM checks_chosen
UNION ALL
SELECT 'suite', s.batch_id || ':' || s.suite || ':' || s.success::VARCHAR || ':' || s.evaluated_at::VARCHAR
FROM checks_suites s JOIN checks_chosen c ON c.checks_version = s.checks_version
UNION ALL
SELECT 'override', o.batch_id || ':' || o.overridden_at::VARCHAR
FROM checks_overrides o JOIN checks_chosen c ON c.checks_version = o.checks_version
ORDER BY part, item;
