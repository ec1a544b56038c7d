-- One batch's suite results under one checks version (for an override). Parameters: $batch_id, $checks_version.
SELECT suite, success, failed, given FROM checks_suites
WHERE batch_id = $batch_id AND checks_version = $checks_version
ORDER BY suite;
