"""Choosing the rows of an SFT set: selection query, annotation preference, dataset mix and a leakage-free split.

The rules live in SQL files (schemas/queries/sft_*.sql) and run where the data is: each step leaves a TEMP table on
the warehouse connection (selected_pairs -> candidates -> mixed -> kept), which DuckDB spills to disk under its
memory limit, so no step holds wide rows in Python however many pairs there are. This module binds their inputs
and does the one step SQL does not do well, connected components of the leakage graph (pairs linked by a shared
query side, query medium or normalised query text end in the same split), over integers: two per edge and one
per pair.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from umedata import sql

DEFAULT_QUERY = "sft_select"
SPLIT_MODES = ("group", "source")
TEXT_KEYS = ("text_only", "minhash", "all", "none")


@dataclass(frozen=True)
class SftSpec:
    """Everything that decides which rows an SFT version has. Recorded with every build.

    preference: entries "model", "model@prompt_version", "*@prompt_version" or "*", best first. An annotation that
        matches no entry is not used; the default "*" takes any validated annotation.
    split_mode: "group" re-splits train/eval by leakage group (eval_fraction of the groups, by seeded hash);
        "source" keeps each pair's source split and drops train pairs whose group reaches into eval.
    text_key: which query texts link pairs (sft_split_keys.sql): "text_only" (queries without media, by normalised
        text), "minhash" (the same plus MinHash near duplicates, sft_split_keys_minhash.sql), "all", "none".
    caps: dataset -> most pairs kept. weights: dataset -> share of `total` (datasets not listed are left out);
        without `total`, the largest total every weighted dataset can fill without repeating rows.
    query: path of a .sql file returning pair_id (default: schemas/queries/sft_select.sql with the filters below).
    keep_contaminated: keep pairs that share media or query text with a registered eval set (default: left out
        before the build, umedata/versions/decontam.py; either way the manifest counts them).
    """

    name: str = "sft"
    datasets: tuple[str, ...] = ()
    modalities: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    source_splits: tuple[str, ...] = ()
    preference: tuple[str, ...] = ("*",)
    split_mode: str = "group"
    eval_fraction: float = 0.05
    text_key: str = "text_only"
    seed: int = 0
    caps: Mapping[str, int] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=dict)
    total: int | None = None
    query: str | None = None
    keep_contaminated: bool = False  # keep pairs that share content with a registered eval set (recorded)

    def __post_init__(self) -> None:
        if self.split_mode not in SPLIT_MODES:
            raise ValueError(f"split_mode must be one of {SPLIT_MODES}")
        if self.text_key not in TEXT_KEYS:
            raise ValueError(f"text_key must be one of {TEXT_KEYS}")
        if not 0.0 <= self.eval_fraction <= 1.0:
            raise ValueError("eval_fraction must be within [0, 1]")
        if self.caps and self.weights:
            raise ValueError("mix by caps or by weights, not both")
        if any(v < 0 for v in self.caps.values()) or any(v < 0 for v in self.weights.values()):
            raise ValueError("caps and weights must not be negative")
        if not self.preference:
            raise ValueError("preference needs at least one entry ('*' takes any annotation)")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("datasets", "modalities", "tasks", "sources", "source_splits", "preference"):
            d[k] = list(d[k])
        d["caps"] = dict(sorted(self.caps.items()))
        d["weights"] = dict(sorted(self.weights.items()))
        return d

    def query_name(self) -> str:
        return str(Path(self.query).resolve()) if self.query else f"umedata/schemas/queries/{DEFAULT_QUERY}.sql"

    def query_sql(self) -> str:
        return sql.text(self.query or DEFAULT_QUERY)


def preference_table(preference: Sequence[str]) -> pa.Table:
    """'model@prompt_version' entries -> (rank, model, prompt_version), NULL meaning any."""
    ranks, models, versions = [], [], []
    for rank, entry in enumerate(preference):
        model, _, version = entry.partition("@")
        ranks.append(rank)
        models.append(None if model in ("", "*") else model)
        versions.append(None if version in ("", "*") else version)
    return pa.table(
        {"rank": pa.array(ranks, pa.int32()), "model": pa.array(models, pa.string()),
         "prompt_version": pa.array(versions, pa.string())}
    )


def stage_selection(con: duckdb.DuckDBPyConnection, spec: SftSpec) -> None:
    """Run the selection query into the TEMP table selected_pairs (on a warehouse connection). Its rows go from
    DuckDB to DuckDB as a stream (through a cursor), so not even the pair ids pass through Python whole."""
    params = {
        "datasets": list(spec.datasets), "modalities": list(spec.modalities), "tasks": list(spec.tasks),
        "sources": list(spec.sources), "source_splits": list(spec.source_splits),
    }
    cur = con.cursor()
    try:
        selected = sql.stream_text(cur, spec.query_sql(), params, batch_rows=100_000)
        if "pair_id" not in selected.schema.names:
            raise ValueError(f"selection query {spec.query_name()} must return a pair_id column")
        ids = pa.RecordBatchReader.from_batches(
            pa.schema([selected.schema.field("pair_id")]), (b.select(["pair_id"]) for b in selected))
        sql.temp_table(con, "selected_pairs", ids)
    finally:
        cur.close()


def stage_candidates(con: duckdb.DuckDBPyConnection, spec: SftSpec) -> int:
    """The selected pairs (stage_selection) whose two sides have a validated annotation, with the annotation each
    side uses, into the TEMP table candidates; returns how many."""
    sql.temp_table(con, "annotation_preference", preference_table(spec.preference))
    return int(sql.execute(con, "sft_candidates")[0][0])


def quotas(available: Mapping[str, int], spec: SftSpec) -> dict[str, int]:
    """Pairs to keep per dataset; datasets absent from the result keep everything."""
    if spec.caps:
        return {d: int(c) for d, c in spec.caps.items()}
    if not spec.weights:
        return {}
    weighted = {d: float(w) for d, w in spec.weights.items() if w > 0 and available.get(d, 0) > 0}
    out = {d: 0 for d in available if d not in weighted}
    if not weighted:
        return out
    wsum = sum(weighted.values())
    total = spec.total
    if total is None:  # the largest mix every dataset can fill without repeating a row
        total = min(math.floor(available[d] * wsum / w) for d, w in weighted.items())
    # Largest-remainder rounding, ties by name: shares sum to total exactly and deterministically.
    exact = {d: total * w / wsum for d, w in weighted.items()}
    share = {d: math.floor(x) for d, x in exact.items()}
    left = total - sum(share.values())
    for d in sorted(exact, key=lambda d: (-(exact[d] - share[d]), d))[:left]:
        share[d] += 1
    out.update({d: min(n, available[d]) for d, n in share.items()})
    return out


def mix(con: duckdb.DuckDBPyConnection, spec: SftSpec) -> tuple[int, dict[str, int]]:
    """Candidates -> the TEMP table mixed (sft_mix.sql); returns (pairs kept, quotas)."""
    counts = sql.query(con, "sft_candidate_counts")
    available = dict(zip(counts.column("dataset_name").to_pylist(), counts.column("pairs").to_pylist()))
    q = quotas(available, spec)
    sql.temp_table(con, "quotas", pa.table({"dataset_name": pa.array(list(q), pa.string()),
                                            "quota": pa.array(list(q.values()), pa.int64())}))
    return int(sql.execute(con, "sft_mix", {"seed": str(spec.seed)})[0][0]), q


def components(n: int, rid: np.ndarray, kid: np.ndarray) -> np.ndarray:
    """Connected component of each of n rows, rows linked through shared keys (a bipartite row-key graph given as
    edge arrays: row rid[i] has key kid[i], keys numbered 0..k-1)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    size = n + (int(kid.max()) + 1 if len(kid) else 0)
    graph = coo_matrix((np.ones(len(rid), dtype=np.int8), (rid, kid + n)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    return labels[:n]


def _edges(con: duckdb.DuckDBPyConnection) -> tuple[np.ndarray, np.ndarray]:
    """The leakage graph's edges as two int64 arrays, read batch by batch."""
    rids, kids = [], []
    for b in sql.stream(con, "sft_split_ids", batch_rows=1_000_000):
        rids.append(b.column(0).to_numpy().astype(np.int64))
        kids.append(b.column(1).to_numpy().astype(np.int64))
    if not rids:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rids), np.concatenate(kids)


def split(con: duckdb.DuckDBPyConnection, n: int, spec: SftSpec) -> dict[str, Any]:
    """Assign train/eval by leakage group over the TEMP table mixed (n rows): the TEMP table kept(pair_id, split,
    split_group, qry_annotation_id, pos_annotation_id) of the pairs that stay; returns the manifest's audit.

    The leakage graph (pairs linked by a shared key) is built in SQL; Python holds only its edges as integers and
    the component of each pair (scipy), never a wide row."""
    sql.execute(con, "sft_split_keys", {"text_key": spec.text_key})
    if spec.text_key == "minhash":  # exact normalised text as in text_only, plus near duplicates
        sql.execute(con, "sft_split_keys_minhash")
    rid, kid = _edges(con)
    labels = components(n, rid, kid) if n else np.zeros(0, dtype=np.int64)
    del rid, kid
    sql.temp_table(con, "kept_components", pa.table({
        "rid": pa.array(np.arange(n, dtype=np.int64)), "component": pa.array(labels.astype(np.int64))}))
    dropped = int(sql.execute(con, "sft_assign_split", {
        "mode": spec.split_mode, "seed": str(spec.seed), "eval_fraction": float(spec.eval_fraction),
    })[0][0])
    return {
        "mode": spec.split_mode, "eval_fraction": spec.eval_fraction if spec.split_mode == "group" else None,
        "seed": spec.seed, "text_key": spec.text_key,
        "groups": int(np.count_nonzero(np.bincount(labels))) if n else 0,
        "dropped_train_pairs_leaking_into_eval": dropped,
    }


def arrange(con: duckdb.DuckDBPyConnection, spec: SftSpec, n_candidates: int) -> dict[str, Any]:
    """Mix -> split, over the TEMP table candidates: leaves the TEMP table kept(pair_id, split, split_group,
    qry_annotation_id, pos_annotation_id) and returns what the manifest records about it."""
    n_mixed, q = mix(con, spec)
    audit = split(con, n_mixed, spec)
    return {"candidates": n_candidates, "after_mix": n_mixed, "quotas": q, "split": audit}
