"""Step 7, stage: the warehouse rows one chunk adds, as Arrow tables in the warehouse's own schemas.

Only rows with a new pair stage pairs, sides and media; media already staged earlier in the run are not staged
again. Imported assistant texts (UME-R1 SFT) are annotations of every good row, known pair or not: a new text
for an old pair is new content. Pairs and sides are sorted by key: DuckDB maintains its key index markedly
faster for ordered inserts, and the commit, not this preparation, is what bounds ingest speed.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from umedata import ids, tables
from umedata.format import parse_assistant
from umedata.ingest.dedup import first_of_each
from umedata.ingest.read import PROBLEMS
from umedata.ingest.resolve import SIDES, FoundMedia

IMPORTED_MODEL = "imported"
IMPORTED_PROMPT = "imported:ume-r1-sft"


def pairs_table(fresh: pa.Table, source: str, file: str) -> pa.Table:
    n = fresh.num_rows
    pairs = pa.table(
        {
            "pair_id": fresh["pair_id"],
            "source": pa.array([source] * n, pa.string()),
            "dataset_name": fresh["dataset"],
            "modality": fresh["modality"],
            "task": fresh["task"],
            "split": fresh["split"],
            "qry_side_id": fresh["qry_side_id"],
            "pos_side_id": fresh["pos_side_id"],
            "negatives": fresh["negatives"],
            "source_file": pa.array([file] * n, pa.string()),
            "source_row": fresh["row"],
        }
    )
    return pairs.cast(tables.schema("pairs")).sort_by("pair_id")


def sides_table(fresh: pa.Table) -> pa.Table:
    """Every side of the new pairs (query, target, negatives), once each."""
    schema = tables.schema("sides")
    parts = [
        pa.table(
            {
                "side_id": fresh[f"{s}_side_id"],
                "text": fresh[f"{s}_text"],
                "media": fresh[f"{s}_media"],
                "modality": fresh[f"{s}_modality"],
            }
        )
        for s in SIDES
    ]
    negatives = {"side_id": "negatives", "text": "neg_text", "media": "neg_media", "modality": "neg_modality"}
    parts.append(pa.table({c: fresh[n].combine_chunks().flatten() for c, n in negatives.items()}))
    sides = pa.concat_tables([p.cast(schema) for p in parts])
    return first_of_each(sides, "side_id").sort_by("side_id")


def media_tables(fresh: pa.Table, found: FoundMedia, staged: set[str]) -> tuple[pa.Table, pa.Table]:
    """(media, video_frames) rows the new pairs use that this run has not staged yet; `staged` is updated.

    An image used only as a video frame is a `frame`; one that is also a side's own image stays an `image`.
    """
    on_sides = _distinct([fresh[f"{s}_media"] for s in SIDES])
    as_frames = _distinct([fresh[f"{s}_frames"] for s in SIDES])
    of_negatives = _distinct([fresh["neg_media"].combine_chunks().flatten()])
    used = pc.unique(pa.concat_arrays([on_sides, as_frames, of_negatives])).to_pylist()
    new = [sha for sha in used if sha not in staged]
    staged.update(new)
    frame_only = set(as_frames.to_pylist()) - set(on_sides.to_pylist()) if len(as_frames) else set()
    media = []
    for sha in new:
        info = found.infos[sha]
        media.append(info.as_row("frame" if sha in frame_only and info.kind == "image" else None))
    frames = [
        {"video_sha256": v, "frame_index": k, "frame_sha256": f}
        for v in new
        if v in found.frames
        for k, f in enumerate(found.frames[v])
    ]
    return tables.rows("media", media), tables.rows("video_frames", frames)


def annotations_table(good: pa.Table, origin: str, created_at: datetime) -> pa.Table:
    """Imported assistant texts as annotations of their side, raw kept byte for byte."""
    out: list[dict] = []
    for s in SIDES:
        raw = good[f"{s}_raw"]
        has = pc.is_valid(raw)
        if not pc.any(has).as_py():
            continue
        for side_id, text in zip(good[f"{s}_side_id"].filter(has).to_pylist(), raw.filter(has).to_pylist()):
            parsed = parse_assistant(text)
            out.append(
                {
                    "annotation_id": ids.annotation_id(ids.import_key(side_id, IMPORTED_MODEL, IMPORTED_PROMPT, text)),
                    "side_id": side_id,
                    "request_key": None,
                    "model": IMPORTED_MODEL,
                    "prompt_version": IMPORTED_PROMPT,
                    "reasoning": parsed.reasoning,
                    "summary": parsed.summary,
                    "raw": text,
                    "format_status": parsed.status,
                    "closed_answer": parsed.closed_answer,
                    "origin": origin,
                    "created_at": created_at,
                }
            )
    return tables.rows("annotations", out)


def row_problems(rows: pa.Table, file: str) -> pa.Table:
    """(what, reason, detail) of refused rows, `what` naming the row as file:row."""
    what = [f"{file}:{r}" for r in rows["row"].to_pylist()]
    return pa.table({"what": what, "reason": rows["error"], "detail": rows["error_detail"]}, schema=PROBLEMS)


def quarantine_table(source: str, problems: pa.Table, created_at: datetime) -> pa.Table:
    """Quarantine rows, keyed by content (source, what, reason), so a re-run adds none."""
    n = problems.num_rows
    keys = zip(problems["what"].to_pylist(), problems["reason"].to_pylist())
    table = pa.table(
        {
            "quarantine_id": pa.array([ids.quarantine_id(source, w, r) for w, r in keys], pa.string()),
            "source": pa.array([source] * n, pa.string()),
            "stage": pa.array(["ingest"] * n, pa.string()),
            "what": problems["what"],
            "reason": problems["reason"],
            "detail": problems["detail"],
            "created_at": pa.array([created_at] * n, pa.timestamp("us")),
        }
    )
    return table.cast(tables.schema("quarantine"))


def _distinct(columns: list[pa.Array | pa.ChunkedArray]) -> pa.Array:
    """The distinct values of list columns (a side's media, its frames)."""
    flat = [c.combine_chunks().flatten() if isinstance(c, pa.ChunkedArray) else c.flatten() for c in columns]
    return pc.unique(pa.concat_arrays(flat)) if flat else pa.array([], pa.string())
