-- Writer: one staged shard appended to a table without a key.
INSERT INTO {table} BY NAME SELECT * FROM read_parquet($shard);
