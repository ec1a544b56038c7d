-- One line per evaluation run: the mean over its eval sets of each set's headline metric (NDCG@5 for visual
-- documents, Hit@1 otherwise; the registered set's own metric when it has one) for disc, gen and the oracle, with
-- chance and the share of generations that emitted <gen_emb>.
CREATE OR REPLACE VIEW eval_summary AS
WITH scored AS (
    SELECT s.*, coalesce(e.metric, CASE WHEN s.category = 'visdoc' THEN 'ndcg@5' ELSE 'hit@1' END) AS headline
    FROM eval_scores s
    LEFT JOIN eval_sets e ON e.name = s.eval_set
)
SELECT r.run_id, r.stage, r.checkpoint, r.checkpoint_id[:12] AS checkpoint_id, r.eval_dir_id[:12] AS eval_dir,
       len(r.eval_sets) AS eval_sets,
       round(avg(x.value) FILTER (WHERE x.mode = 'disc' AND x.metric = x.headline AND x.k = 0), 4) AS disc,
       round(avg(x.value) FILTER (WHERE x.mode = 'gen' AND x.metric = x.headline AND x.k = 0), 4) AS gen,
       round(avg(x.value) FILTER (WHERE x.mode = 'oracle' AND x.metric = x.headline AND x.k = 0), 4) AS oracle,
       round(avg(x.value) FILTER (WHERE x.mode = 'all' AND x.metric = 'chance'), 4) AS chance,
       round(avg(x.value) FILTER (WHERE x.mode = 'all' AND x.metric = 'gen_emb_share'), 4) AS gen_emb_share,
       r.finished_at
FROM eval_runs r
JOIN scored x ON x.run_id = r.run_id
GROUP BY r.run_id, r.stage, r.checkpoint, r.checkpoint_id, r.eval_dir_id, r.eval_sets, r.finished_at;
