"""Helpers for the ingest tests: real image/PDF files, data files in the published layouts, warehouse counts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from PIL import Image

from umedata.sources.config import DatasetSpec, SourceSpec
from umedata.warehouse import Warehouse

TABLES = ("sources", "pairs", "sides", "media", "video_frames", "annotations", "quarantine")

# The generation prompt as published copies carry it: wrapped over three lines.
WRAPPED_PROMPT = (
    "Represent the above input text, images, videos, or any combination of the three as embeddings. \n"
    "First output the thinking process in <think> </think> tags and then summarize the entire input in a word or "
    "sentence. \nFinally, use the <gen_emb> tag to represent the entire input."
)


def image(
    path: Path, colour: tuple[int, int, int] = (255, 0, 0), size: tuple[int, int] = (8, 8), fmt: str | None = None
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format=fmt)
    return path


def pdf(path: Path, pages: int = 2) -> Path:
    """A real multi-page PDF (one coloured page each)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    imgs = [Image.new("RGB", (60, 80), (40 * k, 120, 200)) for k in range(pages)]
    imgs[0].save(path, format="PDF", save_all=True, append_images=imgs[1:])
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def jsonl(path: Path, rows: list[Any]) -> Path:
    """One line per row: dicts are JSON-encoded, str/bytes written as they are (for broken lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for r in rows:
            if isinstance(r, bytes):
                f.write(r + b"\n")
            elif isinstance(r, str):
                f.write(r.encode("utf-8") + b"\n")
            else:
                f.write(json.dumps(r).encode("utf-8") + b"\n")
    return path


def json_array(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return path


def source(root: Path, layout: str, *datasets: DatasetSpec, name: str = "src", **kw: Any) -> SourceSpec:
    return SourceSpec(name=name, layout=layout, root=root, datasets=list(datasets), **kw)


def counts(wh: Warehouse) -> dict[str, int]:
    with wh.reader() as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def rows(wh: Warehouse, sql: str) -> list[dict[str, Any]]:
    return wh.sql(sql).to_pylist()


def quarantine(wh: Warehouse) -> dict[str, str]:
    """what -> reason."""
    return {r["what"]: r["reason"] for r in rows(wh, "SELECT what, reason FROM quarantine")}


def sides_by_text(wh: Warehouse) -> dict[str, dict[str, Any]]:
    return {r["text"]: r for r in rows(wh, "SELECT * FROM sides")}
