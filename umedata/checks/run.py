"""`validate`: record checks over the annotations of a batch (a teacher run or an import), some datasets, or the
whole warehouse; then the batch suites; then the report. The CLI (`umedata validate`) and the flow
(flows/validate.py) both call it.

    summary = validate(Warehouse(), load_config(student="runs/tiny"), report_dir="runs/checks")

1. The thresholds file becomes a checks version (a content hash) with one row per rule (checks_rules).
2. Annotations not yet checked under that version are read a page at a time (the warehouse is held read-only
   only while a page is read). For each rule, values stored under the same measure key by any earlier version
   are reused; the rest are measured (measure.py); all are evaluated against the thresholds (evaluate.py) and
   committed to annotation_checks through the warehouse's door. `recheck` measures everything again.
3. The version becomes the chosen one (`choose`) once all its rows are in, so validated_annotations switches at
   once, never half-way. A run limited to a batch or datasets does not choose a version that has not checked
   the rest of the warehouse (every other annotation would stop being validated).
4. Every batch touched runs the suites of umedata/schemas/expectations/ (suites.py); results go to checks_suites.
5. With `report_dir`, the markdown report and PNG histograms are written there (report.py).

Verdicts are keyed by annotation id. `umedata annotate --reparse` re-derives annotations in place (same ids, maybe
other text), so run `validate --recheck` after a reparse that changed anything.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from umedata import sql, tables
from umedata.checks.config import ChecksConfig, load_config
from umedata.checks.evaluate import evaluate
from umedata.checks.measure import empty_values, measure
from umedata.checks.rules import RULES
from umedata.checks.tokens import TokenCounter
from umedata.clock import utcnow
from umedata.errors import UserError
from umedata.warehouse import Warehouse

log = logging.getLogger("umedata.checks")
PAGE_ROWS = 100_000  # measured: 100k-row pages ran ~15 % faster than 200k (cache), and halve the memory
Progress = Callable[[int, int], None]


@dataclass
class ValidateSummary:
    checks_version: str
    chosen: bool
    tokenizer: str | None
    lengths: str  # "student tokens (<path>)" or why length rules are off
    selected: int = 0  # annotations checked by this run
    measured: int = 0  # (annotation, rule) values measured
    reused: int = 0  # ... and taken from an earlier version with the same measure key
    passed: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # rule -> annotations failing it (this run)
    batches: list[str] = field(default_factory=list)
    suites: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, str] = field(default_factory=dict)  # name -> file written
    note: str = ""  # why the version was not chosen, when it was not
    elapsed_s: float = 0.0
    checks_per_s: float = 0.0  # annotations checked per second (measuring, evaluating and committing)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def suites_ok(self) -> bool:
        return all(s["success"] for s in self.suites)


def prepare_config(cfg: ChecksConfig | None) -> tuple[ChecksConfig, TokenCounter | None]:
    """The config with its tokenizer resolved (its hash is part of the version)."""
    cfg = cfg or load_config()
    counter = TokenCounter.load(cfg.student) if cfg.student else None
    cfg.tokenizer_sha = counter.sha if counter else None
    return cfg, counter


def register(wh: Warehouse, cfg: ChecksConfig, counter: TokenCounter | None) -> str:
    """Record the checks version and its rules (idempotent); returns the version."""
    version = cfg.version
    now = utcnow()
    versions = tables.rows("checks_versions", [{
        "checks_version": version, "config": json.dumps(cfg.hashed(), sort_keys=True),
        "tokenizer": cfg.tokenizer_sha, "tokenizer_path": str(counter.path) if counter else None,
        "created_at": now, "chosen_at": None,
    }])
    rules = tables.rows("checks_rules", [{
        "checks_version": version, "rule": n, "measure_key": cfg.measure_key(n), "enabled": cfg.enabled(n),
        "op": RULES[n].op, "threshold": cfg.rules[n].threshold, "unit": RULES[n].unit,
    } for n in RULES])
    wh.commit_tables({"checks_versions": versions, "checks_rules": rules})
    return version


def choose(wh: Warehouse, version: str) -> None:
    """Make `version` the chosen checks version (validated_annotations applies it)."""
    with wh.transaction() as con:
        if not sql.execute(con, "checks_choose", {"checks_version": version, "now": utcnow()}):
            raise UserError(f"no checks version {version!r} (see `umedata checks versions`)")


def read_page(wh: Warehouse, params: dict[str, Any], *, pairs: bool, datasets: bool,
              stored: dict[str, str] | None) -> tuple[pl.DataFrame, pl.DataFrame | None, pl.DataFrame | None,
                                                       pl.DataFrame]:
    """One page of annotations (checks_annotations.sql) and, for it: the pairs it is the query of (leak rule),
    the datasets its sides are used in (per-dataset thresholds) and values stored under the `stored` measure keys
    ({rule: measure_key}). The warehouse is open read-only for this call only."""
    with wh.reader() as con:
        page = sql.query(con, "checks_annotations", params)
        if page.num_rows == 0:
            return pl.from_arrow(page), None, None, empty_values()
        sql.temp_table(con, "page_ids", page.select(["annotation_id", "side_id"]))
        leak_pairs = sql.query(con, "checks_leak_pairs") if pairs else None
        side_ds = sql.query(con, "checks_side_datasets") if datasets else None
        values = None
        if stored:
            sql.temp_table(con, "wanted", pa.table({"rule": list(stored), "measure_key": list(stored.values())}))
            values = sql.query(con, "checks_stored_values")
    as_pl = lambda t: None if t is None else pl.from_arrow(t)  # noqa: E731
    kept = empty_values()
    if values is not None and values.num_rows:
        kept = pl.from_arrow(values).select(kept.columns).cast(dict(kept.schema))
    return pl.from_arrow(page), as_pl(leak_pairs), as_pl(side_ds), kept


def check_page(page: pl.DataFrame, cfg: ChecksConfig, counter: TokenCounter | None, pairs: pl.DataFrame | None,
               datasets: pl.DataFrame | None, stored: pl.DataFrame, wanted: list[str]) -> tuple[pl.DataFrame, int, int]:
    """Values (stored or measured) -> verdict rows for one page. Returns (rows, measured, reused)."""
    parts = [stored] if stored.height else []
    measured = 0
    # Rules fully covered by stored values are not measured; rules with none are measured together over the page;
    # rules covered in part are measured for the rows they lack.
    whole, partial = [], []
    for rule in wanted:
        got = stored.filter(pl.col("rule") == rule).height if stored.height else 0
        if got == 0:
            whole.append(rule)
        elif got < page.height:
            partial.append(rule)
    jobs = [(page, whole)] if whole else []
    for rule in partial:
        have = stored.filter(pl.col("rule") == rule).select("annotation_id")
        jobs.append((page.join(have, on="annotation_id", how="anti"), [rule]))
    for sub, rules in jobs:
        vals = measure(sub, rules, cfg, counter, pairs)
        measured += vals.height
        parts.append(vals)
    values = pl.concat(parts) if parts else empty_values()
    rows = evaluate(values, cfg, datasets)
    return rows, measured, stored.height


def validate(
    wh: Warehouse,
    cfg: ChecksConfig | None = None,
    *,
    batch: str | None = None,
    datasets: list[str] | None = None,
    recheck: bool = False,
    choose_version: bool = True,
    suites: bool = True,
    report_dir: str | Path | None = None,
    page_rows: int = PAGE_ROWS,
    on_progress: Progress | None = None,
) -> ValidateSummary:
    """Check the annotations selected (every one not yet checked under this config's version, or all of them with
    `recheck`), choose the version, run the batch suites and write the report. See the module docstring."""
    t0 = time.perf_counter()
    cfg, counter = prepare_config(cfg)
    version = register(wh, cfg, counter)
    lengths = (f"student tokens ({counter.path})" if counter else
               "off: no student tokenizer given ([checks] student, --student)")
    summary = ValidateSummary(checks_version=version, chosen=False, tokenizer=cfg.tokenizer_sha, lengths=lengths)
    wanted = {n: cfg.measure_key(n) for n in RULES if cfg.enabled(n)}
    base = {"batch": batch, "datasets": list(datasets) if datasets else None,
            "skip_version": None if recheck else version}
    total = int(wh.query("checks_count", base).column("n")[0].as_py())
    failures: Counter[str] = Counter()
    batches: set[str] = set()
    after = ""
    while True:
        page, pairs, side_ds, stored = read_page(wh, {**base, "after": after, "page": page_rows},
                                                 pairs="leak" in wanted, datasets=bool(cfg.datasets),
                                                 stored=None if recheck else wanted)
        if page.height == 0:
            break
        after = page.get_column("annotation_id")[-1]
        rows, measured, reused = check_page(page, cfg, counter, pairs, side_ds, stored, list(wanted))
        summary.measured += measured
        summary.reused += reused
        now = utcnow()
        out = rows.with_columns(pl.lit(version).alias("checks_version"), pl.lit(now).alias("checked_at"))
        arrow = out.to_arrow().select(tables.schema("annotation_checks").names).cast(tables.schema("annotation_checks"))
        wh.commit_tables({"annotation_checks": arrow}, {"annotation_checks": "replace" if recheck else "ignore"})
        verdict = rows.group_by("annotation_id").agg(pl.col("passed").all())
        summary.selected += page.height
        summary.passed += int(verdict.get_column("passed").sum())
        failures.update(rows.filter(~pl.col("passed")).get_column("rule").to_list())
        batches.update(page.get_column("batch_id").unique().to_list())
        if on_progress:
            on_progress(summary.selected, total)
    summary.failed = summary.selected - summary.passed
    summary.failures = dict(failures.most_common())
    summary.batches = sorted(batches)
    if choose_version:
        # A version that has checked only part of the warehouse (a --run or --dataset filter under new thresholds)
        # would leave every other annotation unvalidated: it is chosen only once it has checked everything.
        current = wh.query("checks_chosen_version").column("checks_version").to_pylist()
        unchecked = 0 if batch is None and not datasets else int(
            wh.query("checks_unchecked", {"checks_version": version}).column("n")[0].as_py())
        if unchecked == 0 or (current and current[0] == version):
            choose(wh, version)
            summary.chosen = True
        else:
            summary.note = (f"not chosen: {unchecked} annotation(s) are not checked under this version yet; run "
                            f"validate without --run/--dataset, or `umedata checks use {version}` to choose it anyway")
    if suites and batches:
        from umedata.checks.suites import run_suites

        summary.suites = run_suites(wh, cfg, version, sorted(batches))
    summary.elapsed_s = round(time.perf_counter() - t0, 3)
    if report_dir is not None:
        from umedata.checks.report import write_report

        summary.report = write_report(wh, version, report_dir, summary.as_dict())
    summary.checks_per_s = round(summary.selected / summary.elapsed_s, 1) if summary.elapsed_s else 0.0
    log.info("checks %s: %d annotation(s), %d passed, failures %s", version[:12], summary.selected, summary.passed,
             summary.failures)
    return summary
