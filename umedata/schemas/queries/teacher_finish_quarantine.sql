-- A result batch's quarantine rows ($shard) land unless they are about a key whose answer this batch offered but
-- did not land (teacher_finish.sql): a stale verdict must not hide the answer the key's owner lands. Rows about keys
-- never leased (a side whose request cannot be built) always land. First one per quarantine_id wins.
CREATE TEMP TABLE IF NOT EXISTS teacher_offered (request_key VARCHAR);
CREATE TEMP TABLE IF NOT EXISTS teacher_finished (request_key VARCHAR);

INSERT OR IGNORE INTO quarantine BY NAME
SELECT * FROM read_parquet($shard)
WHERE what IN (SELECT request_key FROM teacher_finished) OR what NOT IN (SELECT request_key FROM teacher_offered);
