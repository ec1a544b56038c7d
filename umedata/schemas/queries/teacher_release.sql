-- A run ends: the keys it leased but did not finish (stopped early, endpoint refused it) are claimable at once
-- (their open rows go), and it is no longer live. Parameter: $owner.
DELETE FROM teacher_requests_open WHERE lease_owner = $owner AND status = 'leased';

UPDATE teacher_runs SET alive_until = NULL WHERE run_id = $owner;
