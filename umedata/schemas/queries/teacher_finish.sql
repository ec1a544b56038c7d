-- A result batch's request rows land: the warehouse writer runs this for the staged teacher_requests shard
-- ($shard: the result columns of each finished key, results.RESULT_COLUMNS). Every statement reads the shard or
-- teacher_requests_open (small), never teacher_requests_done: a commit costs the batch, not the table.
-- Memory: a run's connections carry a small DuckDB memory limit (teacher/run.py, RunRecord), so the checkpoint that
-- closing the file runs stays the batch's size, whatever the tables hold.

-- 1. What this batch may land: keys its run (the row's run_id) still leases, or keys exported to a Batch API file
--    (any run may import them). A key another run took over after its lease expired, or one already landed, has
--    no such row: its answer here is dropped, and so is everything else the batch has for it (teacher_finish_rows.sql
--    and teacher_finish_quarantine.sql read teacher_finished and teacher_offered).
CREATE OR REPLACE TEMP TABLE teacher_offered AS SELECT request_key FROM read_parquet($shard);

-- teacher_finished holds the shard's result columns only: the lease-time columns (messages and params are most of
-- a row's bytes) go from the open row straight into teacher_requests_done (2.), never through a temp table.
CREATE OR REPLACE TEMP TABLE teacher_finished AS
SELECT r.*
FROM read_parquet($shard) r
JOIN teacher_requests_open o ON o.request_key = r.request_key
WHERE (o.status = 'leased' AND o.lease_owner = r.run_id) OR o.status = 'exported';

-- 2. Done keys: appended to teacher_requests_done, with the lease-time columns of their open row (one per key).
INSERT INTO teacher_requests_done BY NAME
SELECT f.*, o.side_id, o.source, o.model, o.prompt_version, o.params_hash, o.backend, o.messages, o.params,
       o.created_at
FROM teacher_finished f
JOIN teacher_requests_open o ON o.request_key = f.request_key
WHERE f.status = 'done';

-- 3. Failed keys stay open, failed: a later run may try them again (retryable, or with retry_failed).
UPDATE teacher_requests_open
SET status = f.status, lease_owner = NULL, lease_until = NULL, retryable = f.retryable, outcome = f.outcome,
    endpoint = f.endpoint, run_id = f.run_id, attempts = f.attempts, http_status = f.http_status,
    finish_reason = f.finish_reason, prompt_tokens = f.prompt_tokens, completion_tokens = f.completion_tokens,
    cost_usd = f.cost_usd, latency_ms = f.latency_ms, elapsed_ms = f.elapsed_ms, error = f.error,
    finished_at = f.finished_at
FROM teacher_finished f
WHERE teacher_requests_open.request_key = f.request_key AND f.status = 'failed';

-- 4. Done keys leave the open table - as a tombstone while another run is live (it may hold the key in the
--    selection it made before this answer landed; teacher_tombstones.sql drops it later), else at once.
UPDATE teacher_requests_open
SET status = 'done', lease_owner = f.run_id, lease_until = NULL, finished_at = f.finished_at
FROM teacher_finished f
WHERE teacher_requests_open.request_key = f.request_key AND f.status = 'done'
  AND EXISTS (SELECT 1 FROM teacher_runs r WHERE r.alive_until > now() AND r.run_id <> f.run_id);

DELETE FROM teacher_requests_open
WHERE status <> 'done' AND request_key IN (SELECT request_key FROM teacher_finished WHERE status = 'done');

-- 5. A key answered well is no longer a problem: earlier failures' quarantine rows would hide its annotation.
DELETE FROM quarantine
WHERE stage = 'teacher' AND what IN (SELECT request_key FROM teacher_finished WHERE status = 'done' AND outcome = 'ok');

SELECT count(*) AS landed FROM teacher_finished;
