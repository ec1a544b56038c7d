-- One line per training run, failed ones too (with their error), and the headline figures of the latest
-- evaluation of its exported model (eval_summary; the figures a flow recorded with the run, when it did).
CREATE OR REPLACE VIEW training_run_summary AS
WITH latest_eval AS (
    SELECT * FROM eval_summary QUALIFY row_number() OVER (PARTITION BY checkpoint ORDER BY finished_at DESC) = 1
)
SELECT t.run_id, t.stage, t.dataset_version_id[:12] AS version, t.base_model, t.steps,
       round(t.final_loss, 4) AS final_loss,
       coalesce(e.disc, round(CAST(t.eval->'$.mean.disc' AS DOUBLE), 4)) AS disc,
       coalesce(e.gen, round(CAST(t.eval->'$.mean.gen' AS DOUBLE), 4)) AS gen,
       coalesce(e.chance, round(CAST(t.eval->'$.mean.chance' AS DOUBLE), 4)) AS chance,
       t.status, t.finished_at - t.started_at AS took, t.error[:200] AS error
FROM training_runs t
LEFT JOIN latest_eval e ON e.checkpoint IN (t.run_id || '/model', t.run_id || '/model/');
