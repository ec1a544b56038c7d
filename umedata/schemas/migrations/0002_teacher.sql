-- Teacher annotation: one row per request key, leased before it is sent and finished exactly once.
-- request_key = hash(model, prompt_version, rendered messages with media *hashes*, sampling params, seed).
-- Media are stored by hash only (sha256:<hex> in messages); the bytes are attached at send time.

CREATE TABLE teacher_requests (
    request_key       VARCHAR PRIMARY KEY,
    side_id           VARCHAR NOT NULL,
    source            VARCHAR NOT NULL,     -- a source using the side (quarantine rows are filed under it)
    model             VARCHAR NOT NULL,
    prompt_version    VARCHAR NOT NULL,
    params_hash       VARCHAR NOT NULL,     -- hash of the params JSON: lets a re-run skip finished sides cheaply
    backend           VARCHAR NOT NULL,     -- openai | batch | offline
    messages          JSON NOT NULL,        -- as rendered, media as sha256:<hex>
    params            JSON NOT NULL,        -- {"sampling": {...}, "media": {...}}
    status            VARCHAR NOT NULL,     -- leased | exported | done | failed
    lease_owner       VARCHAR,              -- the run holding the lease
    lease_until       TIMESTAMPTZ,          -- a lease past this is claimable by any run
    retryable         BOOLEAN,              -- failed: may a later run try again?
    outcome           VARCHAR,              -- done: ok | finish_length | refusal | empty | malformed:<status> ...
    endpoint          VARCHAR,              -- endpoint name (never a URL with credentials, never a key)
    run_id            VARCHAR,              -- the run that finished it
    attempts          INTEGER,
    http_status       INTEGER,
    finish_reason     VARCHAR,
    prompt_tokens     BIGINT,
    completion_tokens BIGINT,
    cost_usd          DOUBLE,
    latency_ms        DOUBLE,               -- the answering attempt
    elapsed_ms        DOUBLE,               -- first send to result, retries and waits included
    error             VARCHAR,
    created_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP
);

-- Raw response bodies as received: annotations are re-derived from these with zero calls (`reparse`).
-- First one committed wins, so a key has one stored answer. Keyed through natural_keys (see 0001_core.sql):
-- an index on hash keys slows every commit as the table grows.
CREATE TABLE teacher_responses (
    request_key VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    body        VARCHAR NOT NULL,
    received_at TIMESTAMP NOT NULL
);
INSERT INTO natural_keys VALUES ('teacher_responses', ['request_key']);

CREATE TABLE teacher_runs (
    run_id      VARCHAR PRIMARY KEY,
    backend     VARCHAR NOT NULL,
    model       VARCHAR NOT NULL,
    status      VARCHAR NOT NULL,   -- running | finished | failed | exported | imported
    selection   JSON,
    config      JSON,               -- names of key variables only, never values
    counts      JSON,
    host        VARCHAR,
    pid         INTEGER,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);

-- The template text behind each prompt_version, so an annotation stays explainable after the file changes.
CREATE TABLE teacher_prompts (
    prompt_version VARCHAR PRIMARY KEY,
    name           VARCHAR NOT NULL,
    text           VARCHAR NOT NULL,
    first_used_at  TIMESTAMP NOT NULL
);

-- Batch API request files written by `batch` export; their keys stay leased (status exported) until imported.
CREATE TABLE teacher_batch_files (
    path        VARCHAR PRIMARY KEY,
    run_id      VARCHAR NOT NULL,
    model       VARCHAR NOT NULL,
    n_requests  BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    sha256      VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
