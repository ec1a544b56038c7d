-- Failures by rule per dataset (the report's table).
SELECT * FROM checks_failures_by_reason;
