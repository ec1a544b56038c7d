"""Choosing the rows of an SFT set: selection query, annotation preference, dataset mix and a leakage-free split.

The rules live in SQL files (schemas/queries/sft_*.sql); this module binds their inputs and does the one step SQL
does not do well, connected components of the leakage graph (pairs linked by a shared query side, query medium or
normalised query text end in the same split).
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
import pyarrow.compute as pc

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


def candidates(con: duckdb.DuckDBPyConnection, spec: SftSpec) -> pa.Table:
    """Run the selection query and keep pairs whose two sides have a validated annotation (on a warehouse
    connection)."""
    params = {
        "datasets": list(spec.datasets), "modalities": list(spec.modalities), "tasks": list(spec.tasks),
        "sources": list(spec.sources), "source_splits": list(spec.source_splits),
    }
    selected = sql.run(con, spec.query_sql(), params)
    if "pair_id" not in selected.column_names:
        raise ValueError(f"selection query {spec.query_name()} must return a pair_id column")
    sql.temp_table(con, "selected_pairs", selected.select(["pair_id"]))
    sql.temp_table(con, "annotation_preference", preference_table(spec.preference))
    return sql.query(con, "sft_candidates")


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


def mix(cands: pa.Table, spec: SftSpec) -> tuple[pa.Table, dict[str, int]]:
    counts = cands.group_by("dataset_name").aggregate([("pair_id", "count")])
    available = dict(zip(counts.column("dataset_name").to_pylist(), counts.column("pair_id_count").to_pylist()))
    q = quotas(available, spec)
    if not q:
        return cands, q
    con = sql.memory()
    try:
        con.register("candidates", cands)
        con.register("quotas", pa.table({"dataset_name": pa.array(list(q), pa.string()),
                                         "quota": pa.array(list(q.values()), pa.int64())}))
        return sql.query(con, "sft_mix", {"seed": str(spec.seed)}), q
    finally:
        con.close()


def components(n: int, edges: pa.Table) -> np.ndarray:
    """Connected component of each of n rows, rows linked through shared keys (a bipartite row-key graph)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rid = edges.column("rid").to_numpy().astype(np.int64)
    keys = pc.dictionary_encode(edges.column("key")).combine_chunks()
    kid = keys.indices.to_numpy().astype(np.int64) + n
    size = n + len(keys.dictionary)
    graph = coo_matrix((np.ones(len(rid), dtype=np.int8), (rid, kid)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    return labels[:n]


def split(kept: pa.Table, spec: SftSpec) -> tuple[pa.Table, dict[str, Any]]:
    """Assign train/eval by leakage group; returns (pair_id, split, split_group, qry_annotation_id,
    pos_annotation_id) for the pairs that stay, and an audit for the manifest."""
    n = kept.num_rows
    con = sql.memory()
    try:
        con.register("kept", kept.append_column("rid", pa.array(np.arange(n, dtype=np.int64))))
        edges = sql.query(con, "sft_split_keys", {"text_key": spec.text_key})
        if spec.text_key == "minhash":  # exact normalised text as in text_only, plus near duplicates
            edges = pa.concat_tables([edges, sql.query(con, "sft_split_keys_minhash")])
        labels = components(n, edges) if n else np.zeros(0, dtype=np.int64)
        con.register("kept_groups", pa.table({
            "pair_id": kept.column("pair_id"), "source_split": kept.column("source_split"),
            "component": pa.array(labels.astype(np.int64)),
            "qry_annotation_id": kept.column("qry_annotation_id"), "pos_annotation_id": kept.column("pos_annotation_id"),
        }))
        assigned = sql.query(con, "sft_assign_split", {
            "mode": spec.split_mode, "seed": str(spec.seed), "eval_fraction": float(spec.eval_fraction),
        })
    finally:
        con.close()
    leaks = assigned.column("leaks")
    dropped = int(pc.sum(leaks).as_py() or 0)
    assigned = assigned.filter(pc.invert(leaks)).drop_columns(["leaks"])
    audit = {
        "mode": spec.split_mode, "eval_fraction": spec.eval_fraction if spec.split_mode == "group" else None,
        "seed": spec.seed, "text_key": spec.text_key,
        "groups": int(np.count_nonzero(np.bincount(labels))) if n else 0,
        "dropped_train_pairs_leaking_into_eval": dropped,
    }
    return assigned, audit


def arrange(cands: pa.Table, spec: SftSpec) -> tuple[pa.Table, dict[str, Any]]:
    """Mix -> split, with no warehouse connection open. Returns kept(pair_id, split, split_group,
    qry_annotation_id, pos_annotation_id) and what the manifest records about it."""
    mixed, q = mix(cands, spec)
    kept, audit = split(mixed, spec)
    info = {"candidates": cands.num_rows, "after_mix": mixed.num_rows, "quotas": q, "split": audit}
    return kept, info
