-- Writer, replace mode on a natural-key table (see natural_keys): drop the rows the shard is about to replace.
DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM read_parquet($shard));
