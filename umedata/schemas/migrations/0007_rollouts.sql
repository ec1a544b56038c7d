-- Rollouts of a checkpoint and their offline rewards: the evidence RL-set curation selects by (docs/interfaces.md,
-- "Rollout run folder" and "Rollout scores"). The trainer writes them as files; umedata/rollouts.py loads them.
-- Embeddings stay in the run's parquet shards (rollouts.shard names the file): the warehouse keeps what SQL asks
-- about (texts, lengths, format, rewards), not 1,536 floats per rollout.
--
-- rollouts and rollout_rewards are bulk tables (K rollouts per side, two roles per pair): no PRIMARY KEY index,
-- their keys are listed in natural_keys and enforced by the writer, like the core tables (0001_core.sql).

INSERT INTO natural_keys VALUES
    ('rollouts', ['rollout_key']),
    ('rollout_rewards', ['scoring_id', 'pair_id', 'role', 'rollout_key']);

-- One row per rollout run folder (python -m training.rollout); re-loading a resumed run replaces it.
CREATE TABLE rollout_runs (
    run_id                VARCHAR PRIMARY KEY,   -- manifest run_id
    folder                VARCHAR NOT NULL,      -- where it was loaded from (absolute path or URL)
    checkpoint            VARCHAR,               -- the model folder, as the trainer saw it
    checkpoint_id         VARCHAR NOT NULL,      -- content hash of the weights + config
    dataset_version_id    VARCHAR NOT NULL,
    split                 VARCHAR NOT NULL,
    k                     INTEGER NOT NULL,      -- samples per side
    sampling              JSON NOT NULL,         -- {k, temperature, top_p, top_k, max_completion_length, seed}
    sampling_id           VARCHAR NOT NULL,
    backend               VARCHAR NOT NULL,      -- transformers | vllm
    format_version        VARCHAR NOT NULL,
    embedding             JSON,                  -- {dim, read_at}
    finished              BOOLEAN NOT NULL,      -- the manifest says every side has its K rollouts
    rollouts              BIGINT NOT NULL,       -- rows read from its shards at the last load
    quarantined           BIGINT NOT NULL,
    manifest              JSON NOT NULL,
    loaded_at             TIMESTAMP NOT NULL
);

-- One row per rollout (a side's k-th sample). Keyed by rollout_key = digest(checkpoint_id, side_id, k, sampling_id),
-- so the same sample loaded from a resumed or repeated run is one row.
CREATE TABLE rollouts (
    rollout_key        VARCHAR NOT NULL,
    run_id             VARCHAR NOT NULL,
    checkpoint_id      VARCHAR NOT NULL,
    sampling_id        VARCHAR NOT NULL,
    side_id            VARCHAR NOT NULL,
    k                  INTEGER NOT NULL,
    text               VARCHAR NOT NULL,      -- the completion, special tokens kept
    prompt_tokens      INTEGER,
    completion_tokens  INTEGER,
    finish_reason      VARCHAR,               -- stop | length
    format_ok          BOOLEAN NOT NULL,
    gen_found          BOOLEAN,               -- embedding read at a generated <gen_emb> (else the fallback position)
    shard              VARCHAR NOT NULL       -- the shard (relative to the run folder) holding its embedding
);

-- One row per scoring folder (python -m training.score_rollouts): seeded pools of pool_size pairs per dataset.
-- scoring_id = digest(run_id, dataset_version_id, pool_size, seed, reward spec): the same scoring loaded twice is one.
CREATE TABLE rollout_scorings (
    scoring_id          VARCHAR PRIMARY KEY,
    run_id              VARCHAR NOT NULL,     -- the rollout run it scored
    dataset_version_id  VARCHAR NOT NULL,
    pool_size           INTEGER NOT NULL,
    seed                BIGINT NOT NULL,
    n_pools             INTEGER,
    pools               JSON,                 -- the manifest's pool record
    reward              JSON,                 -- the reward's definition as the scorer recorded it
    folder              VARCHAR NOT NULL,
    rows                BIGINT NOT NULL,
    quarantined         BIGINT NOT NULL,
    manifest            JSON NOT NULL,
    loaded_at           TIMESTAMP NOT NULL
);

-- The reward parts of each rollout as scored in its pool, per pair and role. A side used by two pairs of a pool is
-- scored once per pair (its positive set differs), so the key includes the pair and the role.
CREATE TABLE rollout_rewards (
    scoring_id   VARCHAR NOT NULL,
    pool_id      INTEGER NOT NULL,
    pair_id      VARCHAR NOT NULL,
    role         VARCHAR NOT NULL,            -- qry | pos
    side_id      VARCHAR NOT NULL,
    k            INTEGER NOT NULL,
    rollout_key  VARCHAR NOT NULL,
    r_format     REAL NOT NULL,
    rank         REAL NOT NULL,
    gap          REAL NOT NULL,
    r_emb        REAL NOT NULL,
    reward       REAL NOT NULL                -- r_format + r_emb
);
