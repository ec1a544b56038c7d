-- Evaluation as the benchmark does it: eval sets as published (a candidate list per query, or a corpus with graded
-- qrels), and the scores of checkpoints on them. umedata/evals/ reads the sets in (their sides and media join the
-- core tables, so decontamination can compare by content) and loads training.evaluate's report back.
--
-- A candidate list is stored once per distinct set of candidate sides (list_id hashes them, sorted): an MMEB
-- classification set whose 1,000 queries all rank the same 1,000 labels holds one list, not a million rows; a BEIR
-- corpus is one list every query of its set points at. Relevance lives in eval_qrels, by side: the positive of an
-- MMEB row (its first candidate) has grade 1; BEIR qrels keep their grades.
--
-- eval_queries, eval_candidates, eval_qrels and eval_scores are bulk tables: keys in natural_keys, enforced by the
-- writer (as in 0001_core.sql).

INSERT INTO natural_keys VALUES
    ('eval_queries', ['eval_set', 'query_id']),
    ('eval_candidates', ['eval_set', 'list_id', 'position']),
    ('eval_qrels', ['eval_set', 'query_id', 'side_id']),
    ('eval_scores', ['run_id', 'eval_set', 'mode', 'metric', 'k']);

CREATE TABLE eval_sets (
    name          VARCHAR PRIMARY KEY,   -- the dataset as reported (MSCOCO_i2t, ViDoRe_arxivqa, ...)
    layout        VARCHAR NOT NULL,      -- mmeb_eval | video_eval | beir
    category      VARCHAR NOT NULL,      -- image | video | visdoc: the per-category means group by it
    metric        VARCHAR NOT NULL,      -- the headline metric: hit@1 | ndcg@5
    path          VARCHAR NOT NULL,      -- the file (or BEIR folder) it was read from, absolute
    root          VARCHAR NOT NULL,      -- media paths resolve under it
    licence       VARCHAR,
    provenance    VARCHAR,
    content_id    VARCHAR NOT NULL,      -- hash of its queries, lists and qrels: changed content, new id
    n_queries     BIGINT NOT NULL,
    n_lists       BIGINT NOT NULL,
    n_candidates  BIGINT NOT NULL,       -- distinct candidate sides over all its lists
    options       JSON,                  -- layout options (qrels split, prompts) and what reading skipped
    registered_at TIMESTAMP NOT NULL
);

CREATE TABLE eval_queries (
    eval_set  VARCHAR NOT NULL,
    query_id  VARCHAR NOT NULL,          -- the row number (MMEB layouts) or the BEIR query id
    side_id   VARCHAR NOT NULL,
    list_id   VARCHAR NOT NULL           -- the candidate list it is ranked against
);

CREATE TABLE eval_candidates (
    eval_set  VARCHAR NOT NULL,
    list_id   VARCHAR NOT NULL,
    position  INTEGER NOT NULL,          -- 0-based, in side_id order (ranking never reads the published order)
    side_id   VARCHAR NOT NULL
);

CREATE TABLE eval_qrels (
    eval_set  VARCHAR NOT NULL,
    query_id  VARCHAR NOT NULL,
    side_id   VARCHAR NOT NULL,          -- a relevant candidate
    grade     INTEGER NOT NULL           -- > 0; NDCG gains are linear in it (trec_eval, BEIR)
);

-- One row per evaluation of a checkpoint on an eval-set directory with given settings; re-running the same
-- replaces it.
CREATE TABLE eval_runs (
    run_id              VARCHAR PRIMARY KEY,   -- digest of checkpoint_id, eval directory id and settings
    checkpoint          VARCHAR NOT NULL,      -- the model folder as given
    checkpoint_id       VARCHAR NOT NULL,      -- content hash of its weights, config and tokenizer
    stage               VARCHAR NOT NULL,      -- sft | rl | base | unknown
    parent_checkpoint   VARCHAR,               -- rl: the SFT checkpoint it started from (absolute, as recorded)
    dataset_version_id  VARCHAR,               -- what the checkpoint was trained on (its umedata_run.json)
    eval_dir_id         VARCHAR NOT NULL,      -- the eval-set directory (content id), or the version split
    eval_sets           VARCHAR[] NOT NULL,
    settings            JSON NOT NULL,         -- generation cap, pixels, blank image, pass@k samples, seed
    report              JSON NOT NULL,         -- training.evaluate's whole report
    seconds             DOUBLE,
    started_at          TIMESTAMP NOT NULL,
    finished_at         TIMESTAMP NOT NULL
);

-- One value per (run, eval set, mode, metric, k). mode: disc | gen | oracle (the per-instance best of the two) |
-- all (figures of the run rather than of an embedding, e.g. gen_emb_share). metric: hit@1 | ndcg@5 | pass@k
-- (k set) | gen_emb_share | format_ok_share | chance. k is 0 where it does not apply.
CREATE TABLE eval_scores (
    run_id     VARCHAR NOT NULL,
    eval_set   VARCHAR NOT NULL,
    category   VARCHAR NOT NULL,
    mode       VARCHAR NOT NULL,
    metric     VARCHAR NOT NULL,
    k          INTEGER NOT NULL,
    value      DOUBLE,
    n_queries  BIGINT NOT NULL
);
