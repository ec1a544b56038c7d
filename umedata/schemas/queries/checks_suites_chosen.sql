-- Batch suites of the chosen checks version, one row per batch and suite, with what failed and any override.
SELECT s.batch_id, s.suite, s.success, s.failed, s.given, s.evaluated_at,
       list(x ->> '$.type' || '(' || coalesce(x ->> '$.column', '') || ')') FILTER (WHERE (x ->> '$.success') = 'false')
           AS failing,
       o.who AS override_who, o.why AS override_why, o.overridden_at
FROM checks_suites s
JOIN checks_chosen v ON v.checks_version = s.checks_version
LEFT JOIN checks_overrides o ON o.batch_id = s.batch_id AND o.checks_version = s.checks_version
LEFT JOIN LATERAL (SELECT unnest(CAST(s.results AS JSON[])) AS x) r ON true
GROUP BY s.batch_id, s.suite, s.success, s.failed, s.given, s.evaluated_at, o.who, o.why, o.overridden_at
ORDER BY s.success, s.batch_id, s.suite;
