"""The promotion gate: a batch whose suite failed cannot go into a dataset version unless a user overrides it.

    info = promotion(con)          # inside a version build, with the version's rows as relation `kept`
    override(wh, "20260101T…", why="spot-checked 200 rows; the refusals are quarantined", who="ana")

`promotion` is what a version's manifest records under `checks`: the chosen checks version and its settings,
every batch the version's annotations came in with its suite results, and the overrides used. It raises
`PromotionBlocked` (a UserError: one line, exit status 2 on the command line) when a batch failed a suite under
the chosen version and nobody has overridden it. Without a chosen checks version (no gate has run) nothing is
blocked and `checks` stays empty ({}). Overrides are rows of checks_overrides (who, why, when), tied to the checks
version they were given under: a new threshold file asks again.
"""

from __future__ import annotations

import getpass
import json
from typing import Any

import duckdb

from umedata import sql, tables
from umedata.clock import iso, utcnow
from umedata.errors import UserError
from umedata.warehouse import Warehouse


class PromotionBlocked(UserError):
    """A batch with a failed suite and no override."""


def promotion(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The manifest's `checks` for the rows in relation `kept`; raises PromotionBlocked. See the module docstring."""
    chosen = sql.query(con, "checks_chosen_version").to_pylist()
    if not chosen:  # no gate has run: annotations were judged by their format alone
        return {}
    rows = sql.query(con, "checks_gate").to_pylist()
    batches: dict[str, dict[str, Any]] = {}
    for r in rows:
        b = batches.setdefault(r["batch_id"], {"batch_id": r["batch_id"], "annotations": r["annotations"],
                                               "suites": {}, "override": None})
        if r["suite"] is not None:
            failing = [x for x in json.loads(r["results"]) if x["success"] is False]
            b["suites"][r["suite"]] = {"success": r["success"], "failed": r["failed"], "given": r["given"],
                                       "failing": failing}
        if r["override_who"] is not None:
            b["override"] = {"who": r["override_who"], "why": r["override_why"], "at": iso(r["overridden_at"])}
    blocked = [b["batch_id"] for b in batches.values()
               if any(not s["success"] for s in b["suites"].values()) and b["override"] is None]
    if blocked:
        raise PromotionBlocked(
            f"batch(es) {', '.join(blocked)} failed a suite under checks version {chosen[0]['checks_version']}: "
            "look at `umedata checks suites`, then re-annotate (`umedata requeue`) or promote them anyway with "
            "`umedata checks override BATCH --why TEXT`"
        )
    c = chosen[0]
    return {
        "checks_version": c["checks_version"],
        "chosen_at": iso(c["chosen_at"]),
        "tokenizer": c["tokenizer"],
        "config": json.loads(c["config"]),
        "batches": sorted(batches.values(), key=lambda b: b["batch_id"]),
        "not_run": sorted(b["batch_id"] for b in batches.values() if not b["suites"]),
        "overrides": [{"batch_id": b["batch_id"], **b["override"]} for b in sorted(batches.values(),
                                                                                   key=lambda b: b["batch_id"])
                      if b["override"] is not None],
    }


def override(wh: Warehouse, batch_id: str, *, why: str, who: str | None = None,
             checks_version: str | None = None) -> dict[str, Any]:
    """Record a user's decision to promote `batch_id` although a suite failed (under the chosen checks version
    unless one is given). Refused when there is nothing to override."""
    if not why or not why.strip():
        raise UserError("an override needs a reason (--why)")
    version = checks_version
    if version is None:
        chosen = wh.query("checks_chosen_version").to_pylist()
        if not chosen:
            raise UserError("no checks version is chosen: run `umedata validate` first")
        version = chosen[0]["checks_version"]
    suites = wh.query("checks_batch_suites", {"batch_id": batch_id, "checks_version": version}).to_pylist()
    if not suites:
        raise UserError(f"batch {batch_id!r} has no suite results under checks version {version}")
    if all(s["success"] for s in suites):
        raise UserError(f"batch {batch_id!r} passed every suite under checks version {version}: nothing to override")
    row = {"batch_id": batch_id, "checks_version": version, "who": who or getpass.getuser(), "why": why.strip(),
           "overridden_at": utcnow()}
    wh.commit_tables({"checks_overrides": tables.rows("checks_overrides", [row])}, {"checks_overrides": "replace"})
    return row
