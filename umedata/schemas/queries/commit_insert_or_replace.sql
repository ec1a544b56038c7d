-- Writer: one staged shard into a table with a real primary key; rows whose key exists are overwritten
-- (status changes: leases, request results, a source's changed configuration).
INSERT OR REPLACE INTO {table} BY NAME SELECT * FROM read_parquet($shard);
