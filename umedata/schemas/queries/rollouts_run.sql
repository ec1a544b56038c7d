-- One loaded rollout run by id.
SELECT * FROM rollout_runs WHERE run_id = $run_id;
