-- One line per loaded rollout run: how many sides and rollouts it has, and how its completions look (format rate,
-- share read at a generated <gen_emb>, length, share cut at the cap). A rollout key loaded from two runs (a repeat
-- of the same checkpoint and sampling) counts under the run that brought it first.
CREATE OR REPLACE VIEW rollout_run_summary AS
SELECT r.run_id, r.checkpoint_id[:12] AS checkpoint, r.dataset_version_id[:12] AS version, r.split, r.backend, r.k,
       r.finished,
       count(o.rollout_key) AS rollouts,
       count(DISTINCT o.side_id) AS sides,
       round(avg(o.format_ok::INTEGER), 4) AS format_rate,
       round(avg(o.gen_found::INTEGER), 4) AS gen_found_rate,
       round(avg(o.completion_tokens), 1) AS mean_completion_tokens,
       round(avg((o.finish_reason = 'length')::INTEGER), 4) AS length_share,
       r.quarantined, r.loaded_at
FROM rollout_runs r
LEFT JOIN rollouts o ON o.run_id = r.run_id
GROUP BY ALL;
