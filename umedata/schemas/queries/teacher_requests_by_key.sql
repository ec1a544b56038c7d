-- What the warehouse knows of some request keys: why a run could not lease them (finished, or held by another
-- run), and what a Batch API result line needs to become result rows. Parameter: $keys (VARCHAR[]).
SELECT request_key, side_id, source, model, prompt_version, status, coalesce(retryable, false) AS retryable
FROM teacher_requests
WHERE request_key IN (SELECT unnest($keys));
