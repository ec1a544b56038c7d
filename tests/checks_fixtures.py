"""Test data for the quality-gate tests: the tiny student tokenizer, text-only worlds with long query and target
texts (long enough for the copy and leak rules to mean something), crafted annotations written through the
warehouse's own writer, and a realistic good answer for the local test server to send."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from umedata import tables
from umedata.format import assistant_text
from umedata.ids import annotation_id, pair_id, side_id

COLOURS = ["red", "green", "blue", "yellow", "orange", "purple", "black", "white"]
SHAPES = ["circle", "square", "triangle", "star", "hexagon"]
PLACES = ["top left", "top right", "bottom left", "bottom right", "centre"]


@pytest.fixture(scope="session")
def student_dir(tmp_path_factory) -> Path:
    """The tiny student's tokenizer (training/tiny.py builds it with `tokenizers`), saved as a model folder."""
    from training.tiny import build_tokenizer

    out = tmp_path_factory.mktemp("student")
    build_tokenizer().save_pretrained(out)
    return out


def query_text(i: int) -> str:
    c, s, p = COLOURS[i % 8], SHAPES[i % 5], PLACES[i % 5]
    return (f"Request {i}: find the caption that best describes a photograph where a {c} {s} sits near the {p} of "
            f"a plain canvas, drawn with thick lines, slightly rotated, next to a small grey dot and a thin frame.")


def target_text(i: int) -> str:
    c, s, p = COLOURS[i % 8], SHAPES[(i + 1) % 5], PLACES[(i + 2) % 5]
    return f"caption {i}: a {c} {s} drawn with thick lines near the {p} of a plain canvas beside a small grey dot"


def seed_world(wh, n_pairs: int = 40, *, datasets: tuple[str, ...] = ("TextA", "TextB"), source: str = "noisy",
               shared_query: bool = False) -> dict[str, Any]:
    """Text-only pairs: query texts of ~35 words, target captions of ~20. Pair i belongs to datasets[i % len]. With
    shared_query, pair 1 reuses pair 0's query side (one query, two targets)."""
    sides, pairs = {}, []
    for i in range(n_pairs):
        qi = 0 if (shared_query and i == 1) else i
        q, t = query_text(qi), target_text(i)
        qid, tid = side_id(q, []), side_id(t, [])
        sides[qid] = {"side_id": qid, "text": q, "media": [], "modality": "text"}
        sides[tid] = {"side_id": tid, "text": t, "media": [], "modality": "text"}
        ds = datasets[i % len(datasets)]
        pairs.append({"pair_id": pair_id(source, ds, "train", qid, tid), "source": source, "dataset_name": ds,
                      "modality": "text", "task": "retrieval", "split": "train", "qry_side_id": qid,
                      "pos_side_id": tid, "negatives": [], "source_file": "x.jsonl", "source_row": i})
    batch = wh.stage()
    batch.add("sources", [{"name": source, "layout": "generic", "root": "/", "licence": "CC0-1.0",
                           "provenance": "test", "allow_external_teacher": True, "options": "{}",
                           "registered_at": datetime(2026, 1, 1)}])
    batch.add("sides", list(sides.values()))
    batch.add("pairs", pairs)
    wh.commit(batch)
    return {"sides": sides, "pairs": pairs}


def good_answer(text: str) -> tuple[str, str]:
    """(reasoning, summary) a careful teacher might write for a side, from nothing but that side."""
    words = text.replace(":", "").split()
    reasoning = (f"The input is a short description of {len(words)} words. It talks about "
                 f"{' '.join(words[5:9])} and where things are placed. The key object and its colour matter most, "
                 "so the summary names them and the position.")
    return reasoning, " ".join(words[2:7])


def good_content(key: str, body: dict[str, Any] | None) -> str:
    """Script.content for the test server: a good answer to the side in the request."""
    from openai_server import side_text

    return assistant_text(*good_answer(side_text(body)))


def put_annotations(wh, records: list[dict[str, Any]], *, origin: str = "crafted.json") -> list[str]:
    """Crafted annotations (side_id, reasoning, summary, optional format_status/model/prompt_version/key), imported
    under `origin` (so their batch is import:<origin>). Returns their annotation ids."""
    rows, ids = [], []
    for r in records:
        key = r.get("key") or f"{r['side_id']}:{r.get('reasoning')}:{r.get('summary')}"
        aid = annotation_id(key)
        ids.append(aid)
        raw = assistant_text(r.get("reasoning") or "", r.get("summary") or "")
        rows.append({"annotation_id": aid, "side_id": r["side_id"], "request_key": None,
                     "model": r.get("model", "imported"), "prompt_version": r.get("prompt_version", "crafted"),
                     "reasoning": r.get("reasoning"), "summary": r.get("summary"), "raw": r.get("raw", raw),
                     "format_status": r.get("format_status", "ok"), "closed_answer": False, "origin": origin,
                     "created_at": datetime(2026, 1, 2)})
    wh.commit_tables({"annotations": tables.rows("annotations", rows)})
    return ids
