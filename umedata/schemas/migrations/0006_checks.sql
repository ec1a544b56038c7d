-- Quality gates (umedata/checks): what every record check measured for every annotation, under which checks
-- version, the batch suites (Great Expectations) run over each annotation batch, and the overrides that let a
-- batch whose suite failed into a dataset version anyway.
--
-- A checks version is the hash of everything that decides a verdict: the rules, their thresholds and measure
-- settings (umedata/schemas/checks/defaults.toml plus the user's file), the student tokenizer and the measuring
-- code's version. validated_annotations reads the version chosen last (view checks_current).
--
-- annotation_checks is a bulk table (rules x annotations x versions): no PRIMARY KEY index, its key is listed in
-- natural_keys and enforced by the writer (0001_core.sql says why).

INSERT INTO natural_keys VALUES ('annotation_checks', ['annotation_id', 'rule', 'checks_version']);

CREATE TABLE checks_versions (
    checks_version VARCHAR PRIMARY KEY,
    config         JSON NOT NULL,        -- the effective thresholds file (defaults + the user's), as JSON
    tokenizer      VARCHAR,              -- 'sha256:<hex>' of the student tokenizer.json; NULL: length rules off
    tokenizer_path VARCHAR,              -- where it was read from (recorded, not hashed)
    created_at     TIMESTAMP NOT NULL,
    chosen_at      TIMESTAMP             -- the version chosen last is the one validated_annotations applies
);

-- The rules of a version. Two versions whose rule has the same measure_key measure the same value, so a
-- threshold change re-evaluates stored values instead of measuring again.
CREATE TABLE checks_rules (
    checks_version VARCHAR NOT NULL,
    rule           VARCHAR NOT NULL,
    measure_key    VARCHAR NOT NULL,
    enabled        BOOLEAN NOT NULL,
    op             VARCHAR NOT NULL,     -- max: passes when value <= threshold | min: passes when value >= threshold
    threshold      DOUBLE NOT NULL,      -- the default; per-dataset overrides are in checks_versions.config
    unit           VARCHAR NOT NULL,
    PRIMARY KEY (checks_version, rule)
);

-- One row per (annotation, enabled rule, checks version): the measured value and the verdict.
CREATE TABLE annotation_checks (
    annotation_id  VARCHAR NOT NULL,
    rule           VARCHAR NOT NULL,
    checks_version VARCHAR NOT NULL,
    passed         BOOLEAN NOT NULL,
    value          DOUBLE,               -- in the rule's unit (checks_rules.unit)
    threshold      DOUBLE,               -- the one applied (the strictest of the datasets the side is used in)
    detail         VARCHAR,              -- what was found, when it helps (a leaking pair, the matched phrase)
    checked_at     TIMESTAMP NOT NULL
);

-- Batch suites: one row per (batch, checks version, suite). A batch is a teacher run (its run_id) or an import
-- ('import:' || annotations.origin).
CREATE TABLE checks_suites (
    batch_id       VARCHAR NOT NULL,
    checks_version VARCHAR NOT NULL,
    suite          VARCHAR NOT NULL,     -- the suite file's name (umedata/schemas/expectations/<suite>.json)
    success        BOOLEAN NOT NULL,
    evaluated      INTEGER NOT NULL,     -- expectations evaluated
    failed         INTEGER NOT NULL,
    rows_seen      BIGINT NOT NULL,      -- rows the suite was given (a bounded sample, or the aggregated table)
    given          VARCHAR NOT NULL,     -- 'sample of <n> rows' | 'aggregated table'
    results        JSON NOT NULL,        -- per expectation: type, column, success, observed value
    evaluated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (batch_id, checks_version, suite)
);

-- A user's explicit decision to promote a batch whose suite failed. Dataset versions built with it record it in
-- their manifest (checks.overrides).
CREATE TABLE checks_overrides (
    batch_id       VARCHAR NOT NULL,
    checks_version VARCHAR NOT NULL,
    who            VARCHAR NOT NULL,
    why            VARCHAR NOT NULL,
    overridden_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (batch_id, checks_version)
);
