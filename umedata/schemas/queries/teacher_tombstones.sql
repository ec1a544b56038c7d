-- Drop the tombstones no live run needs: a key done by run R stays as a 'done' row in teacher_requests_open while
-- another run is live (it may have selected the key before R finished it); once no run but R is live, every run
-- that could still lease the key has ended (or died: its liveness expired) and the row goes.
DELETE FROM teacher_requests_open
WHERE status = 'done'
  AND NOT EXISTS (SELECT 1 FROM teacher_runs r
                  WHERE r.alive_until > now() AND r.run_id <> teacher_requests_open.lease_owner);
