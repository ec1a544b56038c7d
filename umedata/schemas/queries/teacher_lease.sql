-- Claim request keys for one run, in one transaction, before any of them is sent.
-- Parameters: $owner (run id), $ttl_s (lease length, seconds), $alive_s (how long the run counts as live without
--             another lease or heartbeat), $status ('leased' | 'exported'), $retry_failed (also claim keys that
--             failed for good, e.g. after fixing a missing file).
-- Relation supplied by the caller: candidates(request_key, side_id, source, model, prompt_version, params_hash, backend,
-- messages, params, created_at), keys from the run's own selection (teacher_pending.sql).
-- Only teacher_requests_open is looked at (see 0009): a key with no row there is not done, or the run's selection
-- would not hold it - it was done before the run started, so the selection left it out, or after, and then its
-- row is a tombstone while this run lives. So a key is claimable when it has no open row, when its lease (or
-- batch export) has expired, or when it failed in a way worth retrying; a tombstone is never claimed. RETURNING
-- (the last statement) lists the keys this run now owns.
UPDATE teacher_runs SET alive_until = now() + to_microseconds(CAST($alive_s * 1e6 AS BIGINT)) WHERE run_id = $owner;

-- The table has no index (0011): a claimed key's old row (an expired lease, a retryable failure) is deleted and
-- the new one inserted, so a key keeps one row.
CREATE OR REPLACE TEMP TABLE teacher_claimed AS
SELECT DISTINCT ON (c.request_key) c.*
FROM candidates c
LEFT JOIN teacher_requests_open t ON t.request_key = c.request_key
WHERE t.request_key IS NULL
   OR (t.status IN ('leased', 'exported') AND t.lease_until < now())
   OR (t.status = 'failed' AND (t.retryable OR $retry_failed));

DELETE FROM teacher_requests_open WHERE request_key IN (SELECT request_key FROM teacher_claimed);

INSERT INTO teacher_requests_open BY NAME
SELECT c.request_key, c.side_id, c.source, c.model, c.prompt_version, c.params_hash, c.backend, c.messages, c.params,
       $status AS status, $owner AS lease_owner, now() + to_microseconds(CAST($ttl_s * 1e6 AS BIGINT)) AS lease_until,
       NULL::BOOLEAN AS retryable, NULL::VARCHAR AS outcome, NULL::VARCHAR AS error,
       c.created_at
FROM teacher_claimed c;

SELECT request_key FROM teacher_claimed;
