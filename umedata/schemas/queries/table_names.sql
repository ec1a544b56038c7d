-- The user tables of the database, by name (status, and the Arrow schemas derived from the DDL).
SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary ORDER BY table_name;
