-- Dataset versions: the registry of immutable, content-addressed snapshots handed to the trainer.
-- The version id is a hash of the content alone (umedata/versions/content.py); when and how a version was built is
-- kept apart, in dataset_version_builds, because several builds (different selections that picked the same rows,
-- or the same selection run twice) map to one id.

CREATE TABLE dataset_versions (
    version_id     VARCHAR PRIMARY KEY,
    name           VARCHAR NOT NULL,       -- the name it was first built under (builds carry every name used)
    kind           VARCHAR NOT NULL,       -- sft | rl | ...
    parents        VARCHAR[] NOT NULL,     -- version ids this one was derived from (lineage)
    path           VARCHAR NOT NULL,       -- the version directory: a local path or an fsspec URL
    media_root     VARCHAR,                -- as in manifest.json: relative to path; NULL when media is embedded
    format_version VARCHAR NOT NULL,       -- umedata.format.FORMAT_VERSION of the rows
    n_rows         BIGINT NOT NULL,
    splits         JSON NOT NULL,          -- {"train": n, "eval": n}
    counts         JSON NOT NULL,          -- [{dataset_name, modality, split, pairs}]
    manifest       JSON NOT NULL,          -- manifest.json as written
    registered_at  TIMESTAMP NOT NULL,     -- first registration; never part of the id
    dropped_at     TIMESTAMP               -- set by `versions drop`; gc may then delete its files
);

-- Every build, also those that found their version already on disk (they write no files).
CREATE TABLE dataset_version_builds (
    build_id       VARCHAR PRIMARY KEY,
    version_id     VARCHAR NOT NULL,
    name           VARCHAR NOT NULL,
    query_name     VARCHAR NOT NULL,       -- the selection query file (schemas/queries/... or a user file)
    query_sql      VARCHAR NOT NULL,       -- its text, so a build stays explainable after the file changes
    filters        JSON NOT NULL,          -- every option of the build (filters, preference, split, mix, seed)
    wrote_files    BOOLEAN NOT NULL,       -- FALSE when the version directory already existed
    code_version   VARCHAR,
    built_at       TIMESTAMP NOT NULL
);

-- Media each version uses, by content hash: what gc must never delete while the version is registered.
CREATE TABLE dataset_version_media (
    version_id VARCHAR NOT NULL,
    sha256     VARCHAR NOT NULL,
    PRIMARY KEY (version_id, sha256)
);

-- Copies written elsewhere (embedded parquet, UME-R1 JSON), for traceability; gc never touches them.
CREATE TABLE dataset_version_exports (
    version_id  VARCHAR NOT NULL,
    dest        VARCHAR NOT NULL,
    layout      VARCHAR NOT NULL,          -- parquet-embedded | parquet-reference | ume_r1_sft | ume_r1_rl
    exported_at TIMESTAMP NOT NULL,
    PRIMARY KEY (version_id, dest)
);
