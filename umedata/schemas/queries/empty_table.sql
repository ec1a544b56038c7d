-- No rows, every column: a table's schema as Arrow sees it.
SELECT * FROM {table} LIMIT 0;
