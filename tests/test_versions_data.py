"""A small warehouse world for the dataset-version tests, written straight through the warehouse writer.

Images are tiny PNGs drawn with PIL in tmp_path; media.path is the absolute file path, as ingest records it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest

from umedata import ids
from umedata.format import assistant_text
from umedata.media import video_sha256
from umedata.warehouse import Warehouse

NOW = dt.datetime(2025, 1, 1)


class World:
    """Rows to commit, plus the files they point at."""

    def __init__(self, root: Path, source: str = "src"):
        self.root = root
        self.source = source
        self.root.mkdir(parents=True, exist_ok=True)
        self.tables: dict[str, list[dict[str, Any]]] = {
            "sources": [], "media": [], "video_frames": [], "sides": [], "pairs": [], "annotations": [], "quarantine": [],
        }
        self.tables["sources"].append({
            "name": source, "layout": "generic", "root": str(root), "licence": "CC0-1.0",
            "provenance": "drawn by the test", "allow_external_teacher": True, "options": None, "registered_at": NOW,
        })
        self._n = 0

    def image(self, seed: int, shape: str = "circle", kind: str = "image") -> str:
        from PIL import Image, ImageDraw

        img = Image.new("RGB", (16, 16), ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
        d = ImageDraw.Draw(img)
        (d.ellipse if shape == "circle" else d.rectangle)([3, 3, 12, 12], fill=(255, 255, 255))
        path = self.root / f"img_{seed}_{shape}.png"
        img.save(path, format="PNG")
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        self.tables["media"].append({"sha256": sha, "kind": kind, "path": str(path), "width": 16, "height": 16,
                                     "frames": None, "bytes": len(data), "format": "PNG"})
        return sha

    def video(self, seeds: list[int]) -> str:
        frames = [self.image(s, "square", kind="frame") for s in seeds]
        vsha = video_sha256(frames)
        self.tables["media"].append({"sha256": vsha, "kind": "video", "path": None, "width": 16, "height": 16,
                                     "frames": len(frames), "bytes": None, "format": None})
        for i, f in enumerate(frames):
            self.tables["video_frames"].append({"video_sha256": vsha, "frame_index": i, "frame_sha256": f})
        return vsha

    def side(self, text: str, media: list[str] = (), modality: str | None = None) -> str:
        sid = ids.side_id(text, media)
        if not any(s["side_id"] == sid for s in self.tables["sides"]):
            self.tables["sides"].append({"side_id": sid, "text": text, "media": list(media),
                                         "modality": modality or ("image" if media else "text")})
        return sid

    def pair(self, dataset: str, qry: str, pos: str, modality: str = "image", task: str = "retrieval",
             split: str = "train", negatives: list[str] = ()) -> str:
        pid = ids.pair_id(self.source, dataset, split, qry, pos, negatives)
        self._n += 1
        self.tables["pairs"].append({
            "pair_id": pid, "source": self.source, "dataset_name": dataset, "modality": modality, "task": task,
            "split": split, "qry_side_id": qry, "pos_side_id": pos, "negatives": list(negatives),
            "source_file": "test", "source_row": self._n,
        })
        return pid

    def annotate(self, side: str, model: str = "teacher-a", prompt_version: str = "p1", status: str = "ok",
                 reasoning: str | None = None, summary: str | None = None, request_key: str | None = None) -> str:
        reasoning = reasoning if reasoning is not None else f"thinking about {side[:8]} with {model}"
        summary = summary if summary is not None else f"summary {side[:8]}"
        raw = assistant_text(reasoning, summary)
        aid = ids.annotation_id(ids.import_key(side, model, prompt_version, raw))
        self.tables["annotations"].append({
            "annotation_id": aid, "side_id": side, "request_key": request_key, "model": model,
            "prompt_version": prompt_version, "reasoning": reasoning, "summary": summary, "raw": raw,
            "format_status": status, "closed_answer": False, "origin": "test", "created_at": NOW,
        })
        return aid

    def quarantine(self, what: str, reason: str = "bad_annotation") -> None:
        self.tables["quarantine"].append({"quarantine_id": ids.quarantine_id(self.source, what, reason),
                                          "source": self.source, "stage": "teacher", "what": what, "reason": reason,
                                          "detail": None, "created_at": NOW})

    def commit(self, wh: Warehouse) -> None:
        import pyarrow as pa

        batch = wh.stage()
        for table, rows in self.tables.items():
            if rows:
                if table == "sides":
                    t = pa.Table.from_pylist(rows, schema=pa.schema([
                        ("side_id", pa.string()), ("text", pa.string()), ("media", pa.list_(pa.string())),
                        ("modality", pa.string())]))
                elif table == "pairs":
                    t = pa.Table.from_pylist(rows)
                    t = t.set_column(t.schema.get_field_index("negatives"), "negatives",
                                     pa.array([r["negatives"] for r in rows], pa.list_(pa.string())))
                else:
                    t = pa.Table.from_pylist(rows)
                batch.add(table, t)
        wh.commit(batch)
        for rows in self.tables.values():
            rows.clear()


def basic_world(w: World, n: int = 8) -> dict[str, Any]:
    """Image->caption, caption->image, a classification set with shared label targets, a video set; all annotated."""
    out: dict[str, Any] = {"pairs": []}
    for i in range(n):
        img = w.image(i)
        q = w.side("Find a caption for the image.", [img])
        p = w.side(f"a shape of colour number {i}")
        out["pairs"].append(w.pair("ShapesI2T", q, p))
        q2 = w.side(f"Find an image of colour number {i}.")
        p2 = w.side("", [w.image(100 + i, "square")])
        neg = w.side("", [w.image(200 + i, "square")])
        out["pairs"].append(w.pair("ShapesT2I", q2, p2, negatives=[neg]))
        q3 = w.side("Represent the image for classification.", [w.image(300 + i)])
        label = w.side("circle" if i % 2 else "square")
        out["pairs"].append(w.pair("ShapesCls", q3, label, task="classification"))
    for i in range(3):
        q = w.side("Describe the video.", [w.video([400 + 3 * i, 401 + 3 * i, 402 + 3 * i])], modality="video")
        p = w.side(f"a video of squares {i}")
        out["pairs"].append(w.pair("Clips", q, p, modality="video"))
    for s in w.tables["sides"]:
        w.annotate(s["side_id"])
    return out


@pytest.fixture
def world(tmp_path):
    return World(tmp_path / "files")


def test_world_commits(warehouse, world):
    basic_world(world, n=2)
    world.commit(warehouse)
    n = warehouse.sql("SELECT count(*) AS n FROM pairs").column("n")[0].as_py()
    assert n == 2 * 3 + 3
