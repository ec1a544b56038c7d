-- RL evaluations beside their SFT parent's (view eval_sft_vs_rl); $metric NULL = every metric.
SELECT * FROM eval_sft_vs_rl
WHERE $metric IS NULL OR metric = $metric
ORDER BY rl_checkpoint, category, eval_set, metric, k, mode;
