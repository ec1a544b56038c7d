-- Writer: the key columns of tables that carry no PRIMARY KEY index.
SELECT table_name, key_columns FROM natural_keys;
