-- Suite results of one checks version, per batch and suite, with any override.
-- Parameters: $checks_version.
SELECT s.batch_id, s.suite, s.success, s.evaluated, s.failed, s.given, s.results,
       o.who AS override_who, o.why AS override_why, o.overridden_at
FROM checks_suites s
LEFT JOIN checks_overrides o ON o.batch_id = s.batch_id AND o.checks_version = s.checks_version
WHERE s.checks_version = $checks_version
ORDER BY s.batch_id, s.suite;
