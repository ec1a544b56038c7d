-- Training runs launched by flows: the trainer writes files (run.json, metrics.jsonl, eval JSON); a flow loads
-- what they say here so runs can be compared in SQL beside the dataset versions they trained on.
CREATE TABLE training_runs (
    run_id              VARCHAR PRIMARY KEY,   -- the run's output folder, absolute
    stage               VARCHAR NOT NULL,      -- sft | grpo
    dataset_version_id  VARCHAR,
    base_model          VARCHAR,
    config              JSON,
    steps               BIGINT,
    final_loss          DOUBLE,
    tokens_per_s        DOUBLE,
    eval                JSON,                  -- training.evaluate's report (per-dataset Hit@1 / NDCG@5, means)
    status              VARCHAR NOT NULL,      -- finished | failed
    started_at          TIMESTAMP NOT NULL,
    finished_at         TIMESTAMP NOT NULL
);
