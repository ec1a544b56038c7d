-- Evaluation runs, newest last (view eval_summary).
SELECT * FROM eval_summary ORDER BY finished_at;
