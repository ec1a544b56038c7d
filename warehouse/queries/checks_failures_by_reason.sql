-- Which rules reject the most annotations, per dataset? (chosen checks version; an annotation failing two rules
-- counts under both)
-- duckdb -readonly warehouse/umedata.duckdb < warehouse/queries/checks_failures_by_reason.sql
SELECT dataset_name, rule, failures, checked, share
FROM checks_failures_by_reason
ORDER BY failures DESC, dataset_name, rule;
