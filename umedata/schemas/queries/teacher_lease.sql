-- Claim request keys for one run, in one transaction, before any of them is sent.
-- Parameters: $owner (run id), $ttl_s (lease length, seconds), $status ('leased' | 'exported'),
--             $retry_failed (also claim keys that failed for good, e.g. after fixing a missing file).
-- Relation supplied by the caller: candidates(request_key, side_id, source, model, prompt_version, params_hash, backend,
-- messages, params, created_at).
-- A key is claimable when it is new, when its lease (or batch export) has expired, or when it failed in a way
-- worth retrying. A done key is never claimed again. RETURNING lists the keys this run now owns.
INSERT OR REPLACE INTO teacher_requests BY NAME
SELECT c.request_key, c.side_id, c.source, c.model, c.prompt_version, c.params_hash, c.backend, c.messages, c.params,
       $status AS status, $owner AS lease_owner, now() + to_microseconds(CAST($ttl_s * 1e6 AS BIGINT)) AS lease_until,
       NULL::BOOLEAN AS retryable, NULL::VARCHAR AS outcome, NULL::VARCHAR AS error,
       c.created_at
FROM candidates c
LEFT JOIN teacher_requests t ON t.request_key = c.request_key
WHERE t.request_key IS NULL
   OR (t.status IN ('leased', 'exported') AND t.lease_until < now())
   OR (t.status = 'failed' AND (t.retryable OR $retry_failed))
RETURNING request_key;
