-- Give back the keys a run leased but did not finish (stopped early, endpoint refused it): claimable at once.
-- Parameter: $owner.
UPDATE teacher_requests
SET lease_until = now() - INTERVAL 1 SECOND
WHERE lease_owner = $owner AND status = 'leased';
