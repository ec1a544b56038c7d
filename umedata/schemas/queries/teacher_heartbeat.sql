-- Extend the leases a live run still holds, so they never expire under it. Parameters: $owner, $ttl_s.
UPDATE teacher_requests
SET lease_until = now() + to_microseconds(CAST($ttl_s * 1e6 AS BIGINT))
WHERE lease_owner = $owner AND status = 'leased';
