-- A failed run keeps the trainer's last words, so `training_run_summary` says why without a log search.
ALTER TABLE training_runs ADD COLUMN error VARCHAR;
