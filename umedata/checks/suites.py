"""Batch suites: Great Expectations 1.x suites stored as JSON files, run over each annotation batch.

    umedata/schemas/expectations/annotation_rows.json   given a seeded sample of the batch's rows
    umedata/schemas/expectations/batch_datasets.json    given the aggregated table (one row per dataset, over all rows)

A suite file is GX's own suite JSON ({"name", "expectations": [{"type", "kwargs"}], "meta"}) with one addition:
`meta.given` says what it is run over, "sample" (checks_suite_rows.sql: at most [checks] suite_sample_rows rows
in hash order, so the same batch gives the same sample) or "aggregated" (checks_suite_datasets.sql, exact over
every row). GX validates pandas frames, not polars or Arrow, hence the bounded sample; it is imported only here
(it costs ~2 s) and its progress bars are off. An expectation on a column that is entirely NULL (length columns
when no student tokenizer was given) is skipped and recorded as such, not failed.

A batch's results land in checks_suites (one row per suite); a batch with a failed suite cannot be promoted into
a dataset version unless a user overrides it (gate.py).
"""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from umedata import sql, tables
from umedata.checks.config import ChecksConfig, ChecksConfigError
from umedata.clock import utcnow
from umedata.warehouse import Warehouse

log = logging.getLogger("umedata.checks")
GIVEN = ("sample", "aggregated")


def suite_files(folder: str | Path | None = None) -> list[Traversable | Path]:
    d: Traversable | Path = Path(folder) if folder else sql.schemas() / "expectations"
    if not d.is_dir():
        raise ChecksConfigError(f"no suites folder {d}")
    return sorted((f for f in d.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)


def load_suites(folder: str | Path | None = None) -> list[dict[str, Any]]:
    out = []
    for f in suite_files(folder):
        try:
            suite = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ChecksConfigError(f"suite {f.name}: not JSON ({exc})") from None
        given = (suite.get("meta") or {}).get("given")
        if given not in GIVEN or not suite.get("name") or not isinstance(suite.get("expectations"), list):
            raise ChecksConfigError(f"suite {f.name} needs a name, expectations and meta.given in {GIVEN}")
        out.append(suite)
    return out


@cache
def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = ctx.data_sources.add_pandas("umedata-checks")
    return ctx, source


def _batch_definition(given: str):
    ctx, source = _context()
    try:
        asset = source.get_asset(given)
    except LookupError:
        asset = source.add_dataframe_asset(given)
    try:
        return asset.get_batch_definition("whole")
    except (KeyError, LookupError, ValueError):
        return asset.add_batch_definition_whole_dataframe("whole")


def _observed(result: dict[str, Any]) -> Any:
    for k in ("observed_value", "unexpected_percent"):
        if k in result:
            return result[k]
    return None


def validate_frame(suite: dict[str, Any], frame) -> dict[str, Any]:
    """Run one suite (its JSON) over a pandas frame; returns success, counts and one entry per expectation."""
    import great_expectations as gx

    skipped, kept = [], []
    for e in suite["expectations"]:
        col = (e.get("kwargs") or {}).get("column")
        if col is not None and (col not in frame.columns or frame[col].isna().all()):
            skipped.append({"type": e["type"], "column": col, "success": None, "observed": "skipped: no values"})
        else:
            kept.append(e)
    results = list(skipped)
    success = True
    if kept and len(frame):
        gx_suite = gx.ExpectationSuite(name=suite["name"], expectations=kept)
        batch = _batch_definition(suite["meta"]["given"]).get_batch(batch_parameters={"dataframe": frame})
        res = batch.validate(gx_suite)
        success = bool(res.success)
        for r in res.results:
            cfg = r.expectation_config
            results.append({"type": cfg.type, "column": cfg.kwargs.get("column"), "success": bool(r.success),
                            "observed": _observed(r.result or {})})
    elif kept:  # nothing to validate: a batch without rows fails its row-count expectation if it has one
        success = not any(e["type"] == "expect_table_row_count_to_be_between" for e in kept)
    failed = sum(1 for r in results if r["success"] is False)
    return {"success": success and failed == 0, "evaluated": sum(1 for r in results if r["success"] is not None),
            "failed": failed, "results": results}


def frame_for(wh: Warehouse, suite: dict[str, Any], batch_id: str, version: str, sample_rows: int):
    """The pandas frame a suite is given for one batch."""
    if suite["meta"]["given"] == "sample":
        t = wh.query("checks_suite_rows", {"batch_id": batch_id, "checks_version": version, "n": int(sample_rows)})
        return t.to_pandas(), f"sample of {t.num_rows} rows"
    t = wh.query("checks_suite_datasets", {"batch_id": batch_id, "checks_version": version})
    return t.to_pandas(), "aggregated table"


def run_suites(wh: Warehouse, cfg: ChecksConfig, version: str, batches: list[str]) -> list[dict[str, Any]]:
    """Every suite over every batch; results committed to checks_suites and returned (one dict per pair)."""
    suites = load_suites(cfg.suites_dir or None)
    out, rows = [], []
    for batch_id in batches:
        for suite in suites:
            frame, given = frame_for(wh, suite, batch_id, version, cfg.suite_sample_rows)
            r = validate_frame(suite, frame)
            out.append({"batch_id": batch_id, "suite": suite["name"], "given": given, **r})
            rows.append({"batch_id": batch_id, "checks_version": version, "suite": suite["name"],
                         "success": r["success"], "evaluated": r["evaluated"], "failed": r["failed"],
                         "rows_seen": len(frame), "given": given,
                         "results": json.dumps(r["results"], default=str), "evaluated_at": utcnow()})
            if not r["success"]:
                log.warning("batch %s failed suite %s: %s", batch_id, suite["name"],
                            [(x["type"], x["column"], x["observed"]) for x in r["results"] if x["success"] is False])
    if rows:
        wh.commit_tables({"checks_suites": tables.rows("checks_suites", rows)}, {"checks_suites": "replace"})
    return out
