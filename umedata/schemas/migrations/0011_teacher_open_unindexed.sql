-- teacher_requests_open without its PRIMARY KEY index (issue 12: the teacher's memory flat in the number of
-- requests). Keys leave the table scattered, as answers come back out of order, and DuckDB does not reclaim the
-- deleted rows of an indexed table: its row groups filled with every key ever leased, and since each lease and each
-- commit closes the file, each close re-compressed up to 122,880 dead rows (0.55 s and ~80 MB more RSS per lease
-- at 150 k requests, measured). Without the index the checkpoint reclaims them. A key has one row all the same:
-- every write to this table is one of the teacher's queries (teacher_lease, teacher_finish, ...), each inside the
-- warehouse's single-writer transaction, and teacher_lease replaces a key's row instead of adding a second.
CREATE TEMP TABLE teacher_requests_open_rows AS SELECT * FROM teacher_requests_open;
DROP VIEW teacher_requests;
DROP TABLE teacher_requests_open;

CREATE TABLE teacher_requests_open (
    request_key       VARCHAR NOT NULL,
    side_id           VARCHAR NOT NULL,
    source            VARCHAR NOT NULL,
    model             VARCHAR NOT NULL,
    prompt_version    VARCHAR NOT NULL,
    params_hash       VARCHAR NOT NULL,
    backend           VARCHAR NOT NULL,
    messages          JSON NOT NULL,
    params            JSON NOT NULL,
    status            VARCHAR NOT NULL,     -- leased | exported | failed | done (a tombstone), as in 0009
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
INSERT INTO teacher_requests_open BY NAME SELECT * FROM teacher_requests_open_rows;
DROP TABLE teacher_requests_open_rows;

CREATE VIEW teacher_requests AS
SELECT * FROM teacher_requests_done
UNION ALL BY NAME
SELECT * FROM teacher_requests_open WHERE status <> 'done';
