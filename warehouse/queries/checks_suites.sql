-- Which annotation batches failed their suites, on what, and who let them through anyway?
-- duckdb -readonly warehouse/umedata.duckdb < warehouse/queries/checks_suites.sql
SELECT batch_id, success, failed_suites, override_who, override_why, override_at, evaluated_at
FROM checks_suite_status
ORDER BY success, batch_id;
