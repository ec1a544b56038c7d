-- The rules of one checks version with their default thresholds. Parameters: $checks_version.
SELECT rule, enabled, op, threshold, unit, measure_key
FROM checks_rules
WHERE checks_version = $checks_version
ORDER BY rule;
