-- Per-category means of each evaluation run (image / video / visdoc: the mean over the category's eval sets, as
-- MMEB-V2 reports them), for every mode, metric and k.
CREATE OR REPLACE VIEW eval_category_scores AS
SELECT s.run_id, r.stage, r.checkpoint, s.category, s.mode, s.metric, s.k,
       avg(s.value) AS value, count(*) AS eval_sets, sum(s.n_queries) AS queries
FROM eval_scores s
JOIN eval_runs r ON r.run_id = s.run_id
GROUP BY ALL;
