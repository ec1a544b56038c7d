-- Core tables: where pairs come from, what they are made of, and what could not be taken in.
-- Every key is a content hash (umedata/ids.py), so inserting the same thing twice is a no-op.
--
-- The bulk tables (media, video_frames, sides, pairs, annotations) take millions of rows per source. A PRIMARY KEY index
-- costs DuckDB ~3x on every bulk commit, so their keys are declared in natural_keys instead and enforced by the
-- writer (umedata/warehouse.py): an anti-join insert inside the one write transaction. That is safe because only
-- one process can hold the file read-write at a time.

CREATE TABLE natural_keys (
    table_name  VARCHAR PRIMARY KEY,
    key_columns VARCHAR[] NOT NULL
);
INSERT INTO natural_keys VALUES
    ('media', ['sha256']),
    ('video_frames', ['video_sha256', 'frame_index']),
    ('sides', ['side_id']),
    ('pairs', ['pair_id']),
    ('annotations', ['annotation_id']);

CREATE TABLE sources (
    name                   VARCHAR PRIMARY KEY,
    layout                 VARCHAR NOT NULL,          -- mmeb | ume_r1_sft | ume_r1_rl | generic
    root                   VARCHAR NOT NULL,          -- media paths resolve under this folder and never escape it
    licence                VARCHAR,
    provenance             VARCHAR,
    allow_external_teacher BOOLEAN NOT NULL DEFAULT FALSE,
    options                JSON,                      -- adapter options (column mapping, dataset defaults)
    registered_at          TIMESTAMP NOT NULL
);

CREATE TABLE media (
    sha256  VARCHAR NOT NULL,
    kind    VARCHAR NOT NULL,      -- image | frame | video | page
    path    VARCHAR,               -- absolute path of a readable file; NULL for a video (its frames are rows too)
    width   INTEGER,
    height  INTEGER,
    frames  INTEGER,               -- videos: number of frames
    bytes   BIGINT,
    format  VARCHAR                -- PNG, JPEG, ... (as decoded)
);

-- A video is an ordered list of frames; its sha256 is the hash of the frame hashes in order.
CREATE TABLE video_frames (
    video_sha256 VARCHAR NOT NULL,
    frame_index  INTEGER NOT NULL,
    frame_sha256 VARCHAR NOT NULL
);

-- A side is a query or a target: text plus ordered media. Shared by every pair that uses it, so it is stored,
-- annotated and paid for once.
CREATE TABLE sides (
    side_id   VARCHAR NOT NULL,
    text      VARCHAR NOT NULL,
    media     VARCHAR[] NOT NULL,
    modality  VARCHAR NOT NULL    -- text | image | video | visdoc
);

CREATE TABLE pairs (
    pair_id       VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    dataset_name  VARCHAR NOT NULL,
    modality      VARCHAR NOT NULL,
    task          VARCHAR NOT NULL,   -- retrieval | classification | vqa | grounding | ...
    split         VARCHAR NOT NULL,   -- train | eval | ...
    qry_side_id   VARCHAR NOT NULL,
    pos_side_id   VARCHAR NOT NULL,
    negatives     VARCHAR[] NOT NULL, -- side ids of the source's hard negatives, in source order
    source_file   VARCHAR,
    source_row    BIGINT
);

-- Reasoning + summary for a side. Imported ones (UME-R1 SFT JSON) carry model 'imported' and origin = the file.
CREATE TABLE annotations (
    annotation_id   VARCHAR NOT NULL,
    side_id         VARCHAR NOT NULL,
    request_key     VARCHAR,
    model           VARCHAR NOT NULL,
    prompt_version  VARCHAR NOT NULL,
    reasoning       VARCHAR,
    summary         VARCHAR,
    raw             VARCHAR NOT NULL,
    format_status   VARCHAR NOT NULL,  -- umedata.format.PARSE_STATUSES
    closed_answer   BOOLEAN,
    origin          VARCHAR NOT NULL,
    created_at      TIMESTAMP NOT NULL
);

CREATE TABLE quarantine (
    quarantine_id VARCHAR PRIMARY KEY,
    source        VARCHAR NOT NULL,
    stage         VARCHAR NOT NULL,   -- ingest | teacher | ...
    what          VARCHAR NOT NULL,   -- file:row, or the key of the thing refused
    reason        VARCHAR NOT NULL,   -- short machine-readable reason (missing_media, bad_json, ...)
    detail        VARCHAR,
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE ingest_runs (
    run_id        VARCHAR PRIMARY KEY,
    source        VARCHAR NOT NULL,
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP NOT NULL,
    rows_seen     BIGINT NOT NULL,
    pairs_new     BIGINT NOT NULL,
    sides_new     BIGINT NOT NULL,
    media_new     BIGINT NOT NULL,
    annotations_new BIGINT NOT NULL,
    quarantined   BIGINT NOT NULL,
    reasons       JSON
);

-- Staged batches committed so far: a batch found staged again after a crash is recognised and not re-applied.
CREATE TABLE committed_batches (
    batch_id     VARCHAR PRIMARY KEY,
    committed_at TIMESTAMP NOT NULL,
    counts       JSON
);
