-- Why a run could not lease some keys: their open row (teacher_requests_open) - a tombstone or a failure for good
-- (finished: skip it), or a live lease of another run (wait, or leave it). Parameter: $keys (VARCHAR[]).
SELECT request_key, status, coalesce(retryable, false) AS retryable
FROM teacher_requests_open
WHERE request_key IN (SELECT unnest($keys));
