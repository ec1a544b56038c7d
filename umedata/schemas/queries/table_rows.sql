-- Rows of one table (umedata status).
SELECT count(*) AS n FROM {table};
