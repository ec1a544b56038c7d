-- A result batch's rows keyed by request (teacher_responses, annotations; the writer's {table}, shard $shard) land
-- for the keys teacher_finish.sql landed in the same transaction, and for no other: no anti-join against the
-- table is needed (a key lands once). A batch without request rows lands none of them.
CREATE TEMP TABLE IF NOT EXISTS teacher_finished (request_key VARCHAR);

INSERT INTO {table} BY NAME
SELECT * FROM read_parquet($shard) WHERE request_key IN (SELECT request_key FROM teacher_finished);
