-- Loaded scorings with the rollout run each scored, newest first; $version (NULL: any) keeps those of one dataset
-- version. What build_rl_set resolves its inputs from, and what `umedata rollouts list` shows.
SELECT s.scoring_id, s.run_id, s.dataset_version_id, s.pool_size, s.seed, s.n_pools, s.rows, s.quarantined,
       s.loaded_at, r.checkpoint, r.checkpoint_id, r.split, r.k, r.sampling, r.sampling_id, r.backend, r.finished
FROM rollout_scorings s
JOIN rollout_runs r ON r.run_id = s.run_id
WHERE $version IS NULL OR s.dataset_version_id = $version
ORDER BY s.loaded_at DESC, s.scoring_id;
