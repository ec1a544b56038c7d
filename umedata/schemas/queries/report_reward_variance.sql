-- Reward variance of every (pair, side) group of the latest loaded scoring (the RL-set curation's signal).
WITH latest AS (SELECT scoring_id FROM rollout_scorings ORDER BY loaded_at DESC LIMIT 1)
SELECT r.role, var_samp(r.reward) AS variance
FROM rollout_rewards r JOIN latest l USING (scoring_id)
GROUP BY r.pair_id, r.role;
