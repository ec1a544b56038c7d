"""Test data for the teacher tests: small warehouses of sources, sides, media and pairs, written through the
warehouse's own staged writer, and teacher configs pointing at the local test server."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from umedata.ids import pair_id, side_id
from umedata.teacher.config import TeacherConfig


def make_png(path: Path, w: int = 32, h: int = 24, color: tuple[int, int, int] = (200, 30, 30)) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h), color).save(path, format="PNG")
    return path


def seed(
    wh,
    tmp: Path,
    *,
    n_pairs: int = 20,
    source: str = "src",
    external_ok: bool = True,
    images: bool = True,
    shared_target: int = 0,
    dataset: str = "ShapesI2T",
    prefix: str = "",
) -> dict[str, Any]:
    """`n_pairs` pairs: an image query (or text, images=False) and a caption target. The last `shared_target`
    pairs all point at one shared target side (a repeated class label). Returns what was written."""
    from umedata.media import sha256_file

    media_rows, sides, pairs = {}, {}, []
    for i in range(n_pairs):
        media: list[str] = []
        if images:
            png = make_png(tmp / "media" / f"{prefix}q{i}.png", 32 + i % 5, 24, (i * 7 % 255, 60, 90))
            sha = sha256_file(png)
            media_rows[sha] = {
                "sha256": sha,
                "kind": "image",
                "path": str(png),
                "width": 32 + i % 5,
                "height": 24,
                "frames": None,
                "bytes": png.stat().st_size,
                "format": "PNG",
            }
            media = [sha]
        q_text = f"{prefix}QUERY-{i}: find the picture number {i}"
        shared = i >= n_pairs - shared_target
        t_text = f"{prefix}TARGET-SHARED a red square" if shared else f"{prefix}TARGET-{i}: a shape numbered {i}"
        q = side_id(q_text, media)
        t = side_id(t_text, [])
        sides[q] = {"side_id": q, "text": q_text, "media": media, "modality": "image" if media else "text"}
        sides[t] = {"side_id": t, "text": t_text, "media": [], "modality": "text"}
        pairs.append(
            {
                "pair_id": pair_id(source, dataset, "train", q, t),
                "source": source,
                "dataset_name": dataset,
                "modality": "image" if media else "text",
                "task": "retrieval",
                "split": "train",
                "qry_side_id": q,
                "pos_side_id": t,
                "negatives": [],
                "source_file": "x.jsonl",
                "source_row": i,
            }
        )
    batch = wh.stage()
    batch.add(
        "sources",
        [
            {
                "name": source,
                "layout": "generic",
                "root": str(tmp),
                "licence": "CC0-1.0",
                "provenance": "test",
                "allow_external_teacher": external_ok,
                "options": "{}",
                "registered_at": datetime(2026, 1, 1),
            }
        ],
    )
    if media_rows:
        batch.add("media", list(media_rows.values()))
    batch.add("sides", list(sides.values()))
    batch.add("pairs", pairs)
    wh.commit(batch)
    return {"sides": sides, "pairs": pairs, "media": media_rows}


def config(url: str | None = None, **kw: Any) -> TeacherConfig:
    """An openai-backend config against the test server, tuned for quick tests."""
    endpoint = {"base_url": url, "name": "local", "self_hosted": True, "max_in_flight": 16}
    endpoint.update(kw.pop("endpoint", {}))
    data: dict[str, Any] = {
        "backend": "openai",
        "model": "test-teacher",
        "endpoints": [endpoint],
        "max_in_flight": 16,
        "timeout_s": 2.0,
        "max_attempts": 4,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.2,
        "lease_ttl_s": 30.0,
        "lease_chunk": 64,
        "commit_every": 50,
        "commit_interval_s": 0.2,
        "params": {"temperature": 0.0, "max_tokens": 256, "seed": 0},
    }
    data.update(kw)
    return TeacherConfig.from_dict(data)


def toml_config(path: Path, url: str, **kw: Any) -> Path:
    """The same config as a TOML file, for subprocess runs."""
    cfg = config(url, **kw)
    lines = [f'backend = "{cfg.backend}"', f'model = "{cfg.model}"']
    for k in (
        "max_in_flight",
        "timeout_s",
        "max_attempts",
        "backoff_initial_s",
        "backoff_max_s",
        "lease_ttl_s",
        "lease_chunk",
        "commit_every",
        "commit_interval_s",
        "commit_duty",
        "commit_max_interval_s",
    ):
        lines.append(f"{k} = {getattr(cfg, k)!r}")
    lines.append("[params]")
    lines += [f"{k} = {v!r}" for k, v in cfg.params.items()]
    for e in cfg.endpoints:
        lines += [
            "[[endpoints]]",
            f'name = "{e.name}"',
            f'base_url = "{e.base_url}"',
            f"self_hosted = {str(e.self_hosted).lower()}",
            f"max_in_flight = {e.max_in_flight}",
        ]
        if e.api_key_env:
            lines.append(f'api_key_env = "{e.api_key_env}"')
        if e.api_key_secret:
            lines.append(f'api_key_secret = "{e.api_key_secret}"')
    path.write_text("\n".join(lines) + "\n")
    return path
