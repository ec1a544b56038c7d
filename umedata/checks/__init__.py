"""Quality gates: record checks over annotations, batch suites, and the promotion gate of dataset versions.

    config.py     the thresholds file (defaults in umedata/schemas/checks/defaults.toml) -> a checks version
    rules.py      the rules: name (= reason code), what each measures, min or max
    tokens.py     lengths in the student's tokens (tokenizers, batch API over distinct pieces)
    text.py       text primitives the rules share (normalisation, whitespace tests), regexes only where needed
    measure.py    values per (annotation, rule), vectorised with polars and numpy, a page in parallel blocks
    kernels.py    compiled (numba) passes over a column's bytes: byte classes, verbatim containment, word split
                  and hashes, word n-gram statistics, the piece-count table
    per_row.py    the same values one annotation at a time in plain Python: the definition measure is tested
                  against, and the bench's per-row baseline
    evaluate.py   values against thresholds (per-dataset overrides, the strictest wins) -> annotation_checks rows
    run.py        validate(): page through annotations, reuse stored values, commit, choose the version
    suites.py     Great Expectations suites from umedata/schemas/expectations/*.json, per batch
    gate.py       which batches may be promoted into a dataset version; overrides (who, why, when)
    report.py     markdown report + PNG figures (plots.py)
    stats.py      measured distributions per dataset (`umedata checks stats`)
    requeue.py    send chosen sides back to the teacher with a new seed or another model

Nothing here imports Prefect; Great Expectations and matplotlib are imported only where used.
"""
