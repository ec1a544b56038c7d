-- RL-set curation, step 1: per pair, the reward over the K rollouts of each side (qry and pos groups, as GRPO
-- groups them) in one scoring: count, mean, sample variance (n - 1, the std GRPO normalises by) and format rate.
-- One pass over rollout_rewards grouped by pair, the two roles as FILTERed aggregates (half the groups of a
-- (pair, role) grouping and no pivot); the scoring is one equality, so DuckDB skips row groups of other scorings.
-- Pairs without rows here are the candidates' not_scored (next step).
CREATE OR REPLACE TEMP TABLE rl_pair_stats AS
SELECT pair_id,
       count(*) FILTER (WHERE role = 'qry') AS n_qry,
       avg(reward) FILTER (WHERE role = 'qry') AS mean_qry,
       var_samp(reward) FILTER (WHERE role = 'qry') AS var_qry,
       avg(r_format) FILTER (WHERE role = 'qry') AS format_qry,
       count(*) FILTER (WHERE role = 'pos') AS n_pos,
       avg(reward) FILTER (WHERE role = 'pos') AS mean_pos,
       var_samp(reward) FILTER (WHERE role = 'pos') AS var_pos,
       avg(r_format) FILTER (WHERE role = 'pos') AS format_pos
FROM rollout_rewards
WHERE scoring_id = $scoring
GROUP BY pair_id;
