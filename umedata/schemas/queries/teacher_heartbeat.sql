-- Extend the leases a live run still holds, so they never expire under it, and the run's own liveness.
-- Parameters: $owner, $ttl_s (lease length), $alive_s (liveness).
UPDATE teacher_requests_open
SET lease_until = now() + to_microseconds(CAST($ttl_s * 1e6 AS BIGINT))
WHERE lease_owner = $owner AND status = 'leased';

UPDATE teacher_runs SET alive_until = now() + to_microseconds(CAST($alive_s * 1e6 AS BIGINT)) WHERE run_id = $owner;
