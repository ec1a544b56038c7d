-- Per scoring, dataset and role: the K-rollout groups' mean reward and its parts, and the share of groups whose
-- reward does not vary (zero advantage for every rollout in GRPO: what curation drops when both sides have it).
CREATE OR REPLACE VIEW rollout_reward_summary AS
WITH groups AS (
    SELECT scoring_id, pair_id, role, avg(reward) AS mean, var_samp(reward) AS var, avg(r_format) AS fmt,
           avg(rank) AS rank, avg(gap) AS gap
    FROM rollout_rewards
    GROUP BY scoring_id, pair_id, role
)
SELECT g.scoring_id, s.pool_size, s.seed, p.dataset_name, p.modality, g.role,
       count(*) AS groups,
       round(avg(g.mean), 4) AS mean_reward,
       round(avg(g.fmt), 4) AS format_rate,
       round(avg(g.rank), 4) AS mean_rank,
       round(avg(g.gap), 4) AS mean_gap,
       round(avg(g.var), 5) AS mean_variance,
       round(avg((coalesce(g.var, 0) = 0)::INTEGER), 4) AS zero_variance_share
FROM groups g
JOIN rollout_scorings s ON s.scoring_id = g.scoring_id
JOIN pairs p ON p.pair_id = g.pair_id
GROUP BY ALL
ORDER BY g.scoring_id, p.dataset_name, p.modality, g.role;
