-- Writer, natural-key table (see natural_keys in 0001_core.sql): the shard's rows whose key the table lacks, once
-- each. An anti-join inside the one write transaction instead of a PRIMARY KEY index (~3x cheaper per commit).
INSERT INTO {table} BY NAME
SELECT DISTINCT ON ({key}) * FROM read_parquet($shard) ANTI JOIN {table} USING ({key});
