-- Loaded rollout runs, newest first, with what their rows say (`umedata rollouts list`).
SELECT run_id, checkpoint_id[:12] AS checkpoint, dataset_version_id[:12] AS version, split, k, backend, finished,
       rollouts, quarantined, folder, loaded_at
FROM rollout_runs
ORDER BY loaded_at DESC, run_id;
