-- The views the migrations define (not those of views/, which are recreated on init): their rows have a schema
-- too (teacher_requests is one since 0009, the union of its two tables).
SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal AND NOT temporary ORDER BY view_name;
