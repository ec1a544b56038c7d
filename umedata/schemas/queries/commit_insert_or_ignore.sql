-- Writer: one staged shard into a table with a real primary key; rows whose key exists are kept as they are.
INSERT OR IGNORE INTO {table} BY NAME SELECT * FROM read_parquet($shard);
