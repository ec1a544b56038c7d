-- How long are reasoning traces and summaries in student tokens, per dataset and teacher, and what did they cost?
-- duckdb -readonly warehouse/umedata.duckdb < warehouse/queries/checks_lengths.sql
SELECT * FROM checks_lengths ORDER BY dataset_name, model;
