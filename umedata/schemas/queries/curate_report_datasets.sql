-- The RL-set report per dataset and modality. Relation rl_decisions (curate_pick.sql's rows plus `selected`):
-- candidates, selected, each rejection reason, and the reward before (every scored candidate) and after (the
-- selected pairs): mean reward, mean variance (score) and format rate (mean r_format over both sides).
SELECT dataset_name, modality,
       count(*) AS candidates,
       count(*) FILTER (WHERE selected) AS selected,
       count(*) FILTER (WHERE reason = 'not_scored') AS not_scored,
       count(*) FILTER (WHERE reason = 'incomplete') AS incomplete,
       count(*) FILTER (WHERE reason = 'eval_side') AS eval_side,
       count(*) FILTER (WHERE reason = 'zero_variance') AS zero_variance,
       count(*) FILTER (WHERE reason = 'out_of_band') AS out_of_band,
       count(*) FILTER (WHERE reason = 'duplicate_side') AS duplicate_side,
       count(*) FILTER (WHERE reason = 'duplicate_group') AS duplicate_group,
       count(*) FILTER (WHERE reason = 'over_quota') AS over_quota,
       avg(mean) AS reward_before,
       avg(mean) FILTER (WHERE selected) AS reward_after,
       avg(score) AS variance_before,
       avg(score) FILTER (WHERE selected) AS variance_after,
       avg((format_qry + format_pos) / 2) AS format_before,
       avg((format_qry + format_pos) / 2) FILTER (WHERE selected) AS format_after
FROM rl_decisions
GROUP BY dataset_name, modality
ORDER BY dataset_name, modality;
