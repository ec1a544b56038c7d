"""Rollout runs and their offline rewards into the warehouse: the trainer's files (docs/interfaces.md, "Rollout run
folder" and "Rollout scores") as rows curation can select by.

    load(wh, folder)            either kind, told apart by manifest.json's `kind`
    load_rollouts(wh, folder)   -> rollout_runs (one row, replaced on re-load), rollouts (by rollout_key)
    load_scores(wh, folder)     -> rollout_scorings (one row), rollout_rewards (by scoring, pair, role, rollout)

Choices:
- Idempotent by key, not by bookkeeping: rollouts are keyed by rollout_key (checkpoint, side, k, sampling), rewards
  by (scoring_id, pair_id, role, rollout_key), and the writer skips keys it has. Loading a folder twice, or a
  resumed run again, adds only what is new; a scoring's id hashes its inputs (run, version, pool size, seed, reward).
- Embeddings stay in the shards: only the other columns are read (parquet column projection), and each rollout
  records its shard, so an embedding is one file read away.
- Every row is checked against the contract in SQL, vectorised (rollouts_check.sql, rollouts_reward_check.sql):
  the key and the format flag are recomputed, the reward's arithmetic is re-done, pairs, sides and rollouts must be
  known. A bad row becomes a quarantine row with its reason (stage `rollouts` / `rewards`) and its good neighbours
  land; a shard that cannot be read is quarantined whole. A folder that is not what it says is a UserError.
- Rows go through the warehouse's committer in batches of about `rows_per_commit` rows; the run/scoring row is
  committed last, so it describes only what has landed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from umedata import sql, tables
from umedata.clock import utcnow
from umedata.errors import UserError
from umedata.format import FORMAT_REGEX, KNOWN_FORMAT_VERSIONS
from umedata.ids import digest, quarantine_id
from umedata.versions.store import join, open_dir
from umedata.warehouse import Warehouse

KINDS = ("rollouts", "rollout_scores")
ROLLOUT_COLUMNS = ("rollout_key", "side_id", "k", "text", "prompt_tokens", "completion_tokens", "finish_reason",
                   "format_ok", "gen_found")
REWARD_COLUMNS = ("pool_id", "pair_id", "role", "side_id", "k", "rollout_key", "r_format", "rank", "gap", "r_emb",
                  "reward")
# float32 from the scorer: rank x gap and r_format + r_emb recomputed here differ from its values by rounding only
TOLERANCE = 1e-4
DEFAULT_ROWS_PER_COMMIT = 1_000_000


class NotARolloutFolder(UserError, ValueError):
    """The folder has no manifest of a known kind, or its manifest lacks what the contract requires."""


@dataclass
class LoadSummary:
    kind: str
    folder: str
    id: str  # run_id or scoring_id
    shards: int = 0
    rows: int = 0
    new: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    finished: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def refused(self, reason: str, n: int = 1) -> None:
        self.quarantined += n
        self.reasons[reason] = self.reasons.get(reason, 0) + n


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    fs, path = open_dir(folder)
    target = join(path, "manifest.json")
    if not fs.exists(target):
        raise NotARolloutFolder(f"{folder} has no manifest.json: not a rollout run or score folder")
    with fs.open(target, "r", encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("kind") not in KINDS:
        raise NotARolloutFolder(f"{folder}: manifest kind {manifest.get('kind')!r} is none of {', '.join(KINDS)}")
    return manifest


def _manifest_of(folder: str, kind: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """The folder's manifest, which must be of `kind` and have every one of `keys`."""
    manifest = read_manifest(folder)
    if manifest["kind"] != kind:
        other = {"rollouts": "load_scores", "rollout_scores": "load_rollouts"}[kind]
        raise NotARolloutFolder(f"{folder} holds {manifest['kind']}, not {kind} (try {other})")
    missing = [k for k in keys if manifest.get(k) is None]
    if missing:
        raise NotARolloutFolder(f"{folder}: manifest lacks {', '.join(missing)} (docs/interfaces.md)")
    return manifest


def _shards(folder: str, pattern: str) -> Iterator[tuple[str, Any]]:
    """(name relative to the folder, filesystem) of each complete shard, in name order (temp names never match)."""
    fs, path = open_dir(folder)
    for p in sorted(fs.glob(join(path, pattern))):
        yield p[len(path) + 1:], fs


def _read(fs: Any, folder: str, rel: str, columns: tuple[str, ...]) -> pa.Table:
    with fs.open(join(open_dir(folder)[1], rel), "rb") as f:
        t = pq.read_table(f, columns=list(columns))
    return t.append_column("rn", pa.array(np.arange(t.num_rows, dtype=np.int64)))


class _Quarantine:
    def __init__(self, source: str, stage: str):
        self.source, self.stage, self.rows = source, stage, []

    def add(self, what: str, reason: str, detail: str | None) -> None:
        self.rows.append({"quarantine_id": quarantine_id(self.source, what, reason), "source": self.source,
                          "stage": self.stage, "what": what, "reason": reason, "detail": detail,
                          "created_at": utcnow()})

    def take(self) -> pa.Table:
        out, self.rows = tables.rows("quarantine", self.rows), []
        return out


def _split(checked: pa.Table, rel: str, quarantine: _Quarantine, describe: tuple[str, ...],
           summary: LoadSummary, key: str | None = None) -> pa.Table:
    """The good rows; each bad one becomes a quarantine row with its reason: `what` is the row's `key` column
    (the key of the thing refused) when it has one, else `<shard>:<row>`; the detail names shard, row and columns."""
    problem = checked.column("problem")
    bad = checked.filter(pc.is_valid(problem))
    for r in bad.select(["rn", "problem", *describe]).to_pylist():
        where = f"{rel}:{r['rn']}"
        detail = ", ".join([where, *(f"{c}={r[c]}" for c in describe)])
        quarantine.add(r[key] if key and r[key] else where, r["problem"], detail)
        summary.refused(r["problem"])
    return checked.filter(pc.is_null(problem))


def _read_shard(fs: Any, folder: str, rel: str, columns: tuple[str, ...], quarantine: _Quarantine,
                summary: LoadSummary, committer: Any) -> pa.Table | None:
    """A shard's rows (with their row numbers `rn`), counted in the summary; None when it cannot be read or lacks a
    column of the contract: then the whole shard is one quarantine row (bad_shard), committed at once."""
    summary.shards += 1
    try:
        shard = _read(fs, folder, rel, columns)
    except Exception as exc:  # unreadable, or a column of the contract missing: the whole shard
        quarantine.add(f"{folder}/{rel}", "bad_shard", f"{type(exc).__name__}: {exc}"[:500])
        summary.refused("bad_shard")
        committer.add({"quarantine": quarantine.take()})
        return None
    summary.rows += shard.num_rows
    return shard


def _check(warehouse: Warehouse, name: str, shard: pa.Table, query: str, params: dict[str, Any]) -> pa.Table:
    """The shard's rows as the check query judges them (a `problem` column), the shard registered as `name`."""
    with warehouse.reader() as con:
        sql.temp_table(con, name, shard)
        return sql.query(con, query, params)


def load(warehouse: Warehouse, folder: str | os.PathLike[str], rows_per_commit: int = DEFAULT_ROWS_PER_COMMIT) -> LoadSummary:
    """A rollout run folder or a score folder, whichever it is."""
    kind = read_manifest(folder)["kind"]
    return (load_rollouts if kind == "rollouts" else load_scores)(warehouse, folder, rows_per_commit)


def _tally(summary: LoadSummary, table: str):
    def on_counts(counts: dict[str, int]) -> None:
        summary.new += counts.get(table, 0)
    return on_counts


def load_rollouts(warehouse: Warehouse, folder: str | os.PathLike[str],
                  rows_per_commit: int = DEFAULT_ROWS_PER_COMMIT) -> LoadSummary:
    """Load a rollout run folder (python -m training.rollout); returns what was read, added and quarantined."""
    folder = str(folder)
    manifest = _manifest_of(folder, "rollouts", ("run_id", "checkpoint_id", "dataset_version_id", "split", "sampling",
                                                 "sampling_id", "backend", "format_version"))
    if manifest["format_version"] not in KNOWN_FORMAT_VERSIONS:
        raise NotARolloutFolder(f"{folder}: format version {manifest['format_version']!r} is not one this umedata "
                                f"knows ({', '.join(sorted(KNOWN_FORMAT_VERSIONS))})")
    k = int(manifest["sampling"].get("k") or 0)
    if k < 1:
        raise NotARolloutFolder(f"{folder}: sampling.k must be a positive number of samples per side")
    run_id = manifest["run_id"]
    summary = LoadSummary("rollouts", folder, run_id, finished=bool(manifest.get("finished")))
    quarantine = _Quarantine(run_source(run_id), "rollouts")
    schema = tables.schema("rollouts")
    params = {"run_id": run_id, "checkpoint_id": manifest["checkpoint_id"], "sampling_id": manifest["sampling_id"], "k": k,
              "format_regex": "(?s)" + FORMAT_REGEX.pattern}
    with warehouse.committer(rows_per_commit, on_counts=_tally(summary, "rollouts")) as committer:
        for rel, fs in _shards(folder, "rollouts/part-*.parquet"):
            shard = _read_shard(fs, folder, rel, ROLLOUT_COLUMNS, quarantine, summary, committer)
            if shard is None:
                continue
            checked = _check(warehouse, "shard_rows", shard, "rollouts_check", params)
            good = _split(checked, rel, quarantine, ("rollout_key", "side_id", "k"), summary, key="rollout_key")
            n = good.num_rows
            rows = pa.table({
                "rollout_key": good.column("rollout_key"), "run_id": pa.array([run_id] * n, pa.string()),
                "checkpoint_id": pa.array([manifest["checkpoint_id"]] * n, pa.string()),
                "sampling_id": pa.array([manifest["sampling_id"]] * n, pa.string()),
                **{c: good.column(c) for c in ROLLOUT_COLUMNS[1:]},
                "shard": pa.array([rel] * n, pa.string()),
            }).cast(schema)
            committer.add({"rollouts": rows, "quarantine": quarantine.take()}, rows=n)
        committer.flush()
        committer.wait()  # the run row is written after its rows have landed
        run = {
            "run_id": run_id, "folder": folder, "checkpoint": manifest.get("checkpoint"),
            "checkpoint_id": manifest["checkpoint_id"], "dataset_version_id": manifest["dataset_version_id"],
            "split": manifest["split"], "k": k, "sampling": json.dumps(manifest["sampling"], sort_keys=True),
            "sampling_id": manifest["sampling_id"], "backend": manifest["backend"],
            "format_version": manifest["format_version"],
            "embedding": json.dumps(manifest.get("embedding")) if manifest.get("embedding") is not None else None,
            "finished": bool(manifest.get("finished")), "rollouts": summary.rows, "quarantined": summary.quarantined,
            "manifest": json.dumps(manifest, sort_keys=True, default=str), "loaded_at": utcnow(),
        }
        committer.add({"rollout_runs": tables.rows("rollout_runs", [run])}, modes={"rollout_runs": "replace"})
    return summary


def run_source(run_id: str) -> str:
    """quarantine.source of a rollout run's refused rows."""
    return f"rollouts:{run_id}"


def scoring_id(manifest: dict[str, Any]) -> str:
    """What names a scoring: the run it scored, the version, the pool size, the seed and the reward's definition."""
    return digest("scoring", manifest["run_id"], manifest["dataset_version_id"], str(int(manifest["pool_size"])),
                  str(int(manifest["seed"])), json.dumps(manifest.get("reward"), sort_keys=True))


def load_scores(warehouse: Warehouse, folder: str | os.PathLike[str],
                rows_per_commit: int = DEFAULT_ROWS_PER_COMMIT) -> LoadSummary:
    """Load a score folder (python -m training.score_rollouts). Its rollout run must be loaded first."""
    folder = str(folder)
    manifest = _manifest_of(folder, "rollout_scores", ("run_id", "dataset_version_id", "pool_size", "seed"))
    sid = scoring_id(manifest)
    with warehouse.reader() as con:
        runs = sql.query(con, "rollouts_run", {"run_id": manifest["run_id"]}).to_pylist()
    if not runs:
        raise UserError(f"{folder} scores rollout run {manifest['run_id']}, which this warehouse has not loaded: "
                        f"load its rollout folder first")
    if runs[0]["dataset_version_id"] != manifest["dataset_version_id"]:
        raise NotARolloutFolder(f"{folder} scores version {manifest['dataset_version_id']} but run "
                                f"{manifest['run_id']} rolled out {runs[0]['dataset_version_id']}")
    summary = LoadSummary("rollout_scores", folder, sid)
    quarantine = _Quarantine(f"scoring:{sid}", "rewards")
    schema = tables.schema("rollout_rewards")
    pools: set[int] = set()
    with warehouse.committer(rows_per_commit, on_counts=_tally(summary, "rollout_rewards")) as committer:
        for rel, fs in _shards(folder, "rewards-*.parquet"):
            shard = _read_shard(fs, folder, rel, REWARD_COLUMNS, quarantine, summary, committer)
            if shard is None:
                continue
            checked = _check(warehouse, "score_rows", shard, "rollouts_reward_check", {
                "tolerance": TOLERANCE, "run_id": manifest["run_id"], "run_source": run_source(manifest["run_id"])})
            good = _split(checked, rel, quarantine, ("pair_id", "role", "rollout_key"), summary)
            pools.update(pc.unique(good.column("pool_id")).to_pylist())
            rows = pa.table({"scoring_id": pa.array([sid] * good.num_rows, pa.string()),
                             **{c: good.column(c) for c in REWARD_COLUMNS}}).cast(schema)
            committer.add({"rollout_rewards": rows, "quarantine": quarantine.take()}, rows=good.num_rows)
        committer.flush()
        committer.wait()
        pool_record = manifest.get("pools")
        scoring = {
            "scoring_id": sid, "run_id": manifest["run_id"], "dataset_version_id": manifest["dataset_version_id"],
            "pool_size": int(manifest["pool_size"]), "seed": int(manifest["seed"]),
            "n_pools": len(pool_record) if isinstance(pool_record, list) else len(pools),
            "pools": json.dumps(pool_record, default=str) if pool_record is not None else None,
            "reward": json.dumps(manifest.get("reward"), sort_keys=True, default=str),
            "folder": folder, "rows": summary.rows, "quarantined": summary.quarantined,
            "manifest": json.dumps(manifest, sort_keys=True, default=str), "loaded_at": utcnow(),
        }
        committer.add({"rollout_scorings": tables.rows("rollout_scorings", [scoring])},
                      modes={"rollout_scorings": "replace"})
    return summary
