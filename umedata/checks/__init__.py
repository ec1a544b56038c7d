"""Quality gates: record checks over annotations, batch suites, and the promotion gate of dataset versions.

    config.py     the thresholds file (defaults in umedata/schemas/checks/defaults.toml) -> a checks version
    rules.py      the rules: name (= reason code), what each measures, min or max
    tokens.py     lengths in the student's tokens (tokenizers, batch API over distinct pieces)
    measure.py    values per (annotation, rule), vectorised with polars and numpy
    evaluate.py   values against thresholds (per-dataset overrides, the strictest wins) -> annotation_checks rows
    run.py        validate(): page through annotations, reuse stored values, commit, choose the version
    suites.py     Great Expectations suites from umedata/schemas/expectations/*.json, per batch
    gate.py       which batches may be promoted into a dataset version; overrides (who, why, when)
    report.py     markdown report + PNG figures (plots.py)
    stats.py      measured distributions per dataset (`umedata checks stats`)
    requeue.py    send chosen sides back to the teacher with a new seed or another model

Nothing here imports Prefect; Great Expectations and matplotlib are imported only where used.
"""
