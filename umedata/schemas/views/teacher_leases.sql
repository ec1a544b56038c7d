-- Keys currently claimed by a run (live, or crashed and waiting for their lease to expire) or exported to a
-- Batch API file and not yet imported.
CREATE OR REPLACE VIEW teacher_leases AS
SELECT lease_owner, status, model, count(*) AS keys,
       min(lease_until) AS first_expiry, max(lease_until) AS last_expiry,
       count(*) FILTER (WHERE lease_until < now()) AS expired
FROM teacher_requests
WHERE status IN ('leased', 'exported')
GROUP BY ALL;
