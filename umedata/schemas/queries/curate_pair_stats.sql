-- RL-set curation, step 1: per candidate pair, the reward over the K rollouts of each side (qry and pos groups,
-- as GRPO groups them): count, mean, sample variance (n - 1, the std GRPO normalises by) and format rate.
-- Relations: rl_candidates(pair_id, dataset_name, modality, split_group, qry_side_id, pos_side_id,
-- qry_annotation_id, pos_annotation_id) - the train rows of the SFT version; rollout_rewards of the scorings in
-- $scorings. A pair with no reward rows keeps NULL statistics (the next step calls it not_scored).
-- One pass over the rewards grouped by (pair, role), then a pivot of the small per-group table.
CREATE OR REPLACE TEMP TABLE rl_pair_stats AS
WITH groups AS (
    SELECT pair_id, role, count(*) AS n, avg(reward) AS mean, var_samp(reward) AS var, avg(r_format) AS fmt
    FROM rollout_rewards
    WHERE scoring_id IN (SELECT unnest($scorings))
    GROUP BY pair_id, role
),
per_pair AS (
    SELECT pair_id,
           any_value(n) FILTER (WHERE role = 'qry') AS n_qry,
           any_value(mean) FILTER (WHERE role = 'qry') AS mean_qry,
           any_value(var) FILTER (WHERE role = 'qry') AS var_qry,
           any_value(fmt) FILTER (WHERE role = 'qry') AS format_qry,
           any_value(n) FILTER (WHERE role = 'pos') AS n_pos,
           any_value(mean) FILTER (WHERE role = 'pos') AS mean_pos,
           any_value(var) FILTER (WHERE role = 'pos') AS var_pos,
           any_value(fmt) FILTER (WHERE role = 'pos') AS format_pos
    FROM groups
    GROUP BY pair_id
)
SELECT c.*, p.n_qry, p.mean_qry, p.var_qry, p.format_qry, p.n_pos, p.mean_pos, p.var_pos, p.format_pos,
       (p.mean_qry + p.mean_pos) / 2 AS mean,
       (p.var_qry + p.var_pos) / 2 AS score
FROM rl_candidates c
LEFT JOIN per_pair p USING (pair_id);
