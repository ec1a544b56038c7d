-- Training runs, newest first, with the folder their metrics.jsonl is in (the run id).
SELECT run_id, stage, version, steps, final_loss, disc, gen, chance, status, took FROM training_run_summary
ORDER BY stage, run_id;
