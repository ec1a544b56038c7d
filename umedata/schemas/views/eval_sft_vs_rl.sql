-- SFT and RL checkpoints side by side: every RL evaluation beside the evaluation of the SFT checkpoint it started
-- from (its umedata_run.json names it) on the same eval directory with the same settings, value by value.
CREATE OR REPLACE VIEW eval_sft_vs_rl AS
SELECT rl.eval_set, rl.category, rl.mode, rl.metric, rl.k,
       sft.value AS sft, rl.value AS rl, rl.value - sft.value AS delta,
       s.checkpoint AS sft_checkpoint, r.checkpoint AS rl_checkpoint, r.eval_dir_id,
       s.run_id AS sft_run, r.run_id AS rl_run
FROM eval_runs r
JOIN eval_runs s
  ON s.stage = 'sft' AND s.checkpoint = r.parent_checkpoint AND s.eval_dir_id = r.eval_dir_id
 AND CAST(s.settings AS VARCHAR) = CAST(r.settings AS VARCHAR)
JOIN eval_scores rl ON rl.run_id = r.run_id
JOIN eval_scores sft
  ON sft.run_id = s.run_id AND sft.eval_set = rl.eval_set AND sft.mode = rl.mode AND sft.metric = rl.metric
 AND sft.k = rl.k
WHERE r.stage = 'rl';
