"""Putting a version's rows together from pieces, one bucket at a time, in canonical order.

A streamed build has DuckDB write three pieces of the rows (schemas/queries/sft_rows_kept.sql, sft_rows_sides.sql,
sft_rows_annotations.sql), each bucketed by the row's place in canonical order (ord // bucket_rows). Each join
inside DuckDB builds its hash table on a narrow side (ids and ord) and streams the wide one (texts, reasoning) to
disk, so DuckDB never holds wide rows either; the canonical order then costs nothing more than sorting one bucket.
`batches` reads the buckets in order and joins their pieces on ord with Arrow: memory is one bucket, whatever the
number of rows.

The rows are those of sft_rows.sql (the same join in one statement, kept as the definition): a row is dropped when
its pair, a side or an annotation is missing (inner joins), negatives missing from `sides` drop out of the list,
and the list keeps the pair's order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from umedata.versions.content import MEDIA_LIST, NEGATIVE, ROW_SCHEMA, conform

PIECES = ("kept", "sides", "annotations")  # folders under the pieces directory, one per query
QUERIES = {"kept": "sft_rows_kept", "sides": "sft_rows_sides", "annotations": "sft_rows_annotations"}
ROLES = {"qry": 0, "pos": 1, "negative": 2}


def _read(pieces: Path, piece: str, bucket: int) -> pa.Table | None:
    d = pieces / piece / f"bucket={bucket}"
    if not d.is_dir():
        return None
    files = sorted(str(p) for p in d.glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else None


def _by_role(table: pa.Table | None) -> dict[int, pa.Table]:
    """A piece sorted by (role, ord, i) once, cut into one zero-copy slice per role."""
    if table is None or table.num_rows == 0:
        return {}
    keys = [("role", "ascending"), ("ord", "ascending")] + ([("i", "ascending")] if "i" in table.column_names else [])
    table = table.take(pc.sort_indices(table, sort_keys=keys))
    roles = table.column("role").to_numpy()
    out = {}
    for role in np.unique(roles):
        lo, hi = np.searchsorted(roles, role, side="left"), np.searchsorted(roles, role, side="right")
        out[int(role)] = table.slice(lo, hi - lo)
    return out


def _at(part: pa.Table | None, ords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(which of `ords` the ord-sorted piece has, and the row of each): pieces hold one row per ord and role."""
    if part is None or part.num_rows == 0:
        return np.zeros(len(ords), dtype=bool), np.zeros(len(ords), dtype=np.int64)
    have = part.column("ord").to_numpy()
    pos = np.searchsorted(have, ords)
    found = pos < len(have)
    found[found] = have[pos[found]] == ords[found]
    return found, np.where(found, pos, 0)


def _negatives(neg: pa.Table | None, ords: np.ndarray) -> pa.Array:
    """The negatives column for rows `ords`: each row's negative sides in list order (role 2 rows, by ord and i)."""
    empty_media = pa.array([], MEDIA_LIST)
    if neg is None or neg.num_rows == 0:
        values = pa.StructArray.from_arrays(
            [pa.array([], pa.string()), pa.array([], pa.string()), empty_media, empty_media],
            fields=list(NEGATIVE))
        return pa.ListArray.from_arrays(pa.array(np.zeros(len(ords) + 1, dtype=np.int32)), values)
    have = neg.column("ord").to_numpy()
    starts = np.searchsorted(have, ords, side="left")
    ends = np.searchsorted(have, ords, side="right")
    counts = ends - starts
    # the rows of `ords` in order: every run [start, end) one after another
    take = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
    neg = neg.take(pa.array(take, pa.int64()))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    values = pa.StructArray.from_arrays(
        [neg.column("side_id").combine_chunks().cast(pa.string()), neg.column("text").combine_chunks().cast(pa.string()),
         neg.column("images").combine_chunks().cast(MEDIA_LIST), neg.column("video").combine_chunks().cast(MEDIA_LIST)],
        fields=list(NEGATIVE))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def bucket(pieces: Path, b: int, format_version: str) -> pa.Table:
    """The rows of bucket b, in canonical order, with the columns of ROW_SCHEMA."""
    kept = _read(pieces, "kept", b)
    if kept is None or kept.num_rows == 0:
        return ROW_SCHEMA.empty_table()
    kept = kept.take(pc.sort_indices(kept, sort_keys=[("ord", "ascending")]))
    ords = kept.column("ord").to_numpy()
    sides = _by_role(_read(pieces, "sides", b))
    anns = _by_role(_read(pieces, "annotations", b))
    parts = {"qs": sides.get(ROLES["qry"]), "ps": sides.get(ROLES["pos"]),
             "qa": anns.get(ROLES["qry"]), "pa": anns.get(ROLES["pos"])}
    aligned = all(p is not None and p.num_rows == len(ords) and np.array_equal(p.column("ord").to_numpy(), ords)
                  for p in parts.values())
    if not aligned:  # some row lacks a side or an annotation (inner joins: it is not a row), or has two
        found = np.ones(len(ords), dtype=bool)
        where = {}
        for k, part in parts.items():
            f, w = _at(part, ords)
            found &= f
            where[k] = w
        kept = kept.filter(pa.array(found))
        ords = ords[found]
        parts = {k: (part.take(pa.array(where[k][found], pa.int64())) if part is not None else None)
                 for k, part in parts.items()}
        if not len(ords):
            return ROW_SCHEMA.empty_table()
    qs, ps, qa, pa_ = parts["qs"], parts["ps"], parts["qa"], parts["pa"]
    n = kept.num_rows
    columns = {
        "pair_id": kept.column("pair_id"), "dataset_name": kept.column("dataset_name"),
        "modality": kept.column("modality"), "task": kept.column("task"), "split": kept.column("split"),
        "qry_side_id": kept.column("qry_side_id"), "pos_side_id": kept.column("pos_side_id"),
        "qry_text": qs.column("text"), "pos_text": ps.column("text"),
        "qry_images": qs.column("images"), "pos_images": ps.column("images"),
        "qry_video": qs.column("video"), "pos_video": ps.column("video"),
        "qry_reasoning": qa.column("reasoning"), "qry_summary": qa.column("summary"),
        "pos_reasoning": pa_.column("reasoning"), "pos_summary": pa_.column("summary"),
        "negatives": _negatives(sides.get(ROLES["negative"]), ords),
        "format_version": pa.array([format_version] * n, pa.string()),
        "source": kept.column("source"), "source_split": kept.column("source_split"),
        "split_group": kept.column("split_group"),
        "qry_annotation_id": qa.column("annotation_id"), "qry_teacher_model": qa.column("model"),
        "qry_prompt_version": qa.column("prompt_version"),
        "pos_annotation_id": pa_.column("annotation_id"), "pos_teacher_model": pa_.column("model"),
        "pos_prompt_version": pa_.column("prompt_version"),
        "qry_raw": qa.column("raw"), "pos_raw": pa_.column("raw"),
    }
    return conform(pa.table(columns))


def buckets(pieces: Path) -> int:
    """How many buckets the kept piece has (they are numbered 0..n-1 with no gap)."""
    d = pieces / "kept"
    return len([p for p in os.listdir(d) if p.startswith("bucket=")]) if d.is_dir() else 0


def batches(pieces: Path, format_version: str) -> Iterator[pa.Table]:
    """Every bucket's rows, in canonical order."""
    for b in range(buckets(pieces)):
        rows = bucket(pieces, b, format_version)
        if rows.num_rows:
            yield rows
