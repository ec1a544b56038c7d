-- teacher_requests in two tables, so that no index grows with the number of requests ever made (issue 12: the
-- PRIMARY KEY behind lease upserts made the client's memory and every commit grow with the warehouse):
--   teacher_requests_done  one row per answered key (status done), appended by the result commit; a bulk table,
--                          keyed through natural_keys like annotations and teacher_responses. No check against it
--                          is needed on the way in: a key lands only while its row in teacher_requests_open says
--                          the committing run holds it (schemas/queries/teacher_finish.sql), and landing removes
--                          that row, so a key lands once.
--   teacher_requests_open  every key that is not done: leased to a run, exported to a Batch API file, failed
--                          (retryable or not) - and, while another run that selected it may still be leasing,
--                          a 'done' tombstone (a run's selection excludes keys done before it started; a tombstone
--                          tells it about one done after). Small: what is in flight, what failed, recent tombstones.
--   teacher_requests       a view: both, as one row per key with the columns teacher_requests had, so every reader
--                          (views, checks, reports, tests) sees what it saw.
-- teacher_runs.alive_until: a run is live until then (set when it starts, extended by its lease transactions and
-- heartbeats, cleared when it ends); tombstones are kept while a live run other than their finisher exists.

CREATE TABLE teacher_requests_done (
    request_key       VARCHAR NOT NULL,
    side_id           VARCHAR NOT NULL,
    source            VARCHAR NOT NULL,
    model             VARCHAR NOT NULL,
    prompt_version    VARCHAR NOT NULL,
    params_hash       VARCHAR NOT NULL,
    backend           VARCHAR NOT NULL,
    messages          JSON NOT NULL,
    params            JSON NOT NULL,
    status            VARCHAR NOT NULL,     -- done
    lease_owner       VARCHAR,
    lease_until       TIMESTAMPTZ,
    retryable         BOOLEAN,
    outcome           VARCHAR,
    endpoint          VARCHAR,
    run_id            VARCHAR,
    attempts          INTEGER,
    http_status       INTEGER,
    finish_reason     VARCHAR,
    prompt_tokens     BIGINT,
    completion_tokens BIGINT,
    cost_usd          DOUBLE,
    latency_ms        DOUBLE,
    elapsed_ms        DOUBLE,
    error             VARCHAR,
    created_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP
);
INSERT INTO natural_keys VALUES ('teacher_requests_done', ['request_key']);

CREATE TABLE teacher_requests_open (
    request_key       VARCHAR PRIMARY KEY,
    side_id           VARCHAR NOT NULL,
    source            VARCHAR NOT NULL,
    model             VARCHAR NOT NULL,
    prompt_version    VARCHAR NOT NULL,
    params_hash       VARCHAR NOT NULL,
    backend           VARCHAR NOT NULL,
    messages          JSON NOT NULL,
    params            JSON NOT NULL,
    status            VARCHAR NOT NULL,     -- leased | exported | failed | done (a tombstone)
    lease_owner       VARCHAR,              -- leased/exported: the run holding it; a tombstone: the run that finished it
    lease_until       TIMESTAMPTZ,
    retryable         BOOLEAN,
    outcome           VARCHAR,
    endpoint          VARCHAR,
    run_id            VARCHAR,
    attempts          INTEGER,
    http_status       INTEGER,
    finish_reason     VARCHAR,
    prompt_tokens     BIGINT,
    completion_tokens BIGINT,
    cost_usd          DOUBLE,
    latency_ms        DOUBLE,
    elapsed_ms        DOUBLE,
    error             VARCHAR,
    created_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP
);

INSERT INTO teacher_requests_done BY NAME SELECT * FROM teacher_requests WHERE status = 'done';
INSERT INTO teacher_requests_open BY NAME SELECT * FROM teacher_requests WHERE status <> 'done';
DROP TABLE teacher_requests;

CREATE VIEW teacher_requests AS
SELECT * FROM teacher_requests_done
UNION ALL BY NAME
SELECT * FROM teacher_requests_open WHERE status <> 'done';

ALTER TABLE teacher_runs ADD COLUMN alive_until TIMESTAMPTZ;
