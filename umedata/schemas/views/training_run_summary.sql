-- One line per training run with its headline evaluation figures (failed runs too, with their error).
CREATE OR REPLACE VIEW training_run_summary AS
SELECT run_id, stage, dataset_version_id[:12] AS version, base_model, steps, round(final_loss, 4) AS final_loss,
       round(CAST(eval->'$.mean.disc' AS DOUBLE), 4) AS disc,
       round(CAST(eval->'$.mean.gen' AS DOUBLE), 4) AS gen,
       round(CAST(eval->'$.mean.chance' AS DOUBLE), 4) AS chance,
       status, finished_at - started_at AS took, error[:200] AS error
FROM training_runs;
