"""Benchmark dataset versions: build a version of N metadata-only pairs and of M pairs with images.

    .venv/bin/python bench/versions.py                      # 1 M and 2 M metadata pairs + 10,000 with media
    .venv/bin/python bench/versions.py --pairs 100000 --media-pairs 1000 --no-write

Measured per set: the first build (select, split, hash, write shards + copy media), the same build again (finds the
version, writes no file), and for the media set an embedded export (bytes into the shards). Setup (generating the
warehouse rows and PNG files) is not timed. Figures go to the "Dataset versions" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
from benchmarks_md import peak_rss_mb, write_section  # bench/ is on the path when a script runs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from umedata.format import assistant_text  # noqa: E402
from umedata.versions import SftSpec, build_sft_set, export_parquet  # noqa: E402
from umedata.warehouse import Warehouse  # noqa: E402

DATASETS = 10
LABELS = 1_000  # classification-style shared targets


def _commit(wh: Warehouse, tables: dict[str, pa.Table]) -> None:
    batch = wh.stage()
    for name, t in tables.items():
        batch.add(name, t)
    wh.commit(batch)


def metadata_world(wh: Warehouse, n: int) -> None:
    """n text-only pairs over DATASETS datasets; a third of them point at LABELS shared label targets."""
    mem = duckdb.connect()
    g = mem.sql(f"""
        SELECT i,
               'ds' || (i % {DATASETS}) AS dataset_name,
               'query number ' || i || ' about shape ' || (i % 97) AS qtext,
               CASE WHEN i % 3 = 0 THEN 'label ' || (i % {LABELS}) ELSE 'target text ' || i END AS ttext
        FROM range({n}) t(i)
    """).to_arrow_table()
    mem.register("g", g)
    sides = mem.sql("""
        SELECT DISTINCT sha256('side' || t) AS side_id, t AS text, []::VARCHAR[] AS media, 'text' AS modality
        FROM (SELECT qtext AS t FROM g UNION ALL SELECT ttext FROM g)
    """).to_arrow_table()
    pairs = mem.sql("""
        SELECT sha256('pair' || i) AS pair_id, 'bench' AS source, dataset_name, 'text' AS modality,
               'retrieval' AS task, 'train' AS split, sha256('side' || qtext) AS qry_side_id,
               sha256('side' || ttext) AS pos_side_id, []::VARCHAR[] AS negatives, 'gen' AS source_file, i AS source_row
        FROM g
    """).to_arrow_table()
    mem.register("sides_t", sides)
    ann = mem.sql("""
        SELECT sha256('ann' || side_id) AS annotation_id, side_id, NULL AS request_key, 'teacher' AS model,
               'p1' AS prompt_version, 'reasoning about ' || text AS reasoning, 'summary of ' || text AS summary,
               '<think>reasoning about ' || text || '</think><answer>summary of ' || text || '<gen_emb>' AS raw,
               'ok' AS format_status, false AS closed_answer, 'bench' AS origin, TIMESTAMP '2025-01-01' AS created_at
        FROM sides_t
    """).to_arrow_table()
    src = pa.Table.from_pylist([{"name": "bench", "layout": "generic", "root": "/", "licence": "CC0-1.0",
                                 "provenance": "bench/versions.py", "allow_external_teacher": True, "options": None,
                                 "registered_at": None}])
    src = src.set_column(src.schema.get_field_index("registered_at"), "registered_at",
                         pa.array([time.time_ns() // 1000], pa.timestamp("us")))
    _commit(wh, {"sources": src, "sides": sides, "pairs": pairs, "annotations": ann})
    mem.close()


def media_world(wh: Warehouse, n: int, files: Path) -> None:
    """n image->caption pairs, one distinct 64x64 PNG per query."""
    from PIL import Image, ImageDraw

    files.mkdir(parents=True, exist_ok=True)
    media, sides, pairs, ann = [], [], [], []
    for i in range(n):
        img = Image.new("RGB", (64, 64), (i % 256, (i // 256) % 256, (i * 7) % 256))
        ImageDraw.Draw(img).ellipse([8, 8, 8 + i % 48, 8 + (i // 48) % 48], fill=(255, 255, 255))
        p = files / f"{i}.png"
        img.save(p, format="PNG")
        data = p.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        media.append({"sha256": sha, "kind": "image", "path": str(p), "width": 64, "height": 64, "frames": None,
                      "bytes": len(data), "format": "PNG"})
        q = hashlib.sha256(f"q{i}".encode()).hexdigest()
        t = hashlib.sha256(f"t{i}".encode()).hexdigest()
        sides += [{"side_id": q, "text": "Find a caption for the image.", "media": [sha], "modality": "image"},
                  {"side_id": t, "text": f"caption {i}", "media": [], "modality": "text"}]
        pairs.append({"pair_id": hashlib.sha256(f"mp{i}".encode()).hexdigest(), "source": "bench",
                      "dataset_name": f"img{i % 4}", "modality": "image", "task": "retrieval", "split": "train",
                      "qry_side_id": q, "pos_side_id": t, "negatives": [], "source_file": "gen", "source_row": i})
        for sid in (q, t):
            ann.append({"annotation_id": hashlib.sha256(f"a{sid}".encode()).hexdigest(), "side_id": sid,
                        "request_key": None, "model": "teacher", "prompt_version": "p1", "reasoning": f"r {i}",
                        "summary": f"s {i}", "raw": assistant_text(f"r {i}", f"s {i}"), "format_status": "ok",
                        "closed_answer": False, "origin": "bench", "created_at": None})
    side_schema = pa.schema([("side_id", pa.string()), ("text", pa.string()), ("media", pa.list_(pa.string())),
                             ("modality", pa.string())])
    pt = pa.Table.from_pylist(pairs)
    pt = pt.set_column(pt.schema.get_field_index("negatives"), "negatives",
                       pa.array([[] for _ in pairs], pa.list_(pa.string())))
    at = pa.Table.from_pylist(ann)
    at = at.set_column(at.schema.get_field_index("created_at"), "created_at",
                       pa.array([time.time_ns() // 1000] * len(ann), pa.timestamp("us")))
    _commit(wh, {"media": pa.Table.from_pylist(media), "sides": pa.Table.from_pylist(sides, schema=side_schema),
                 "pairs": pt, "annotations": at})


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def dir_size(p: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(p).rglob("*") if f.is_file())


def _setup(kind: str, n: int, db: str, files: str) -> None:
    wh = Warehouse(db)
    wh.init()
    metadata_world(wh, n) if kind == "metadata" else media_world(wh, n, Path(files))


def _build(label: str, db: str, work: str, embed: bool, queue) -> None:
    """The builds of one set, in a process of their own: its peak RSS is theirs alone."""
    wh = Warehouse(db)
    first, t_first = timed(lambda: build_sft_set(wh, SftSpec(name=label, eval_fraction=0.05)))
    again, t_again = timed(lambda: build_sft_set(wh, SftSpec(name=label, eval_fraction=0.05)))
    assert again.version_id == first.version_id and not again.wrote_files
    res = {"label": label, "pairs": first.manifest["n_rows"], "build_s": t_first,
           "rebuild_s": t_again, "pairs_per_s": first.manifest["n_rows"] / t_first,
           "version_mb": dir_size(first.path) / 1e6, "media": first.manifest["content"]["media"]}
    if embed:
        _, t_exp = timed(lambda: export_parquet(first.path, Path(work) / f"{label}-embedded", embed_media=True))
        res.update(export_s=t_exp, export_mb=dir_size(Path(work) / f"{label}-embedded") / 1e6)
    res["peak_rss_mb"] = peak_rss_mb()
    queue.put(res)


def bench_set(kind: str, n: int, work: Path, embed: bool) -> dict:
    """Setup and the builds each run in a child process, so the peak memory reported is the builds' own."""
    import multiprocessing as mp
    from queue import Empty

    ctx = mp.get_context("spawn")
    db = work / f"{kind}-{n}" / "umedata.duckdb"
    proc = ctx.Process(target=_setup, args=(kind, n, str(db), str(work / "png")))
    proc.start()
    proc.join()
    if proc.exitcode:
        raise RuntimeError(f"setup of {kind} ({n:,} pairs) failed")
    queue = ctx.Queue()
    proc = ctx.Process(target=_build, args=(kind, str(db), str(work), embed, queue))
    proc.start()
    while True:  # a build that fails never puts its result: stop waiting when its process has ended
        try:
            res = queue.get(timeout=5)
            break
        except Empty:
            if not proc.is_alive():
                raise RuntimeError(f"the builds of {kind} ({n:,} pairs) failed (exit {proc.exitcode})") from None
    proc.join()
    shutil.rmtree(db.parent, ignore_errors=True)  # the next, larger set needs the disk
    return res


def render(results: list[dict]) -> str:
    lines = [
        "## Dataset versions (`bench/versions.py`)",
        "",
        f"Machine: {os.cpu_count()} cores, no GPU, Python {platform.python_version()}. A build = select pairs with "
        "validated annotations on both sides, split by leakage group, hash the content, write zstd parquet shards "
        "(+ copy media into the content-addressed store); a rebuild of the same selection finds the id and writes "
        "nothing. Setup (generating warehouse rows / PNGs) is not timed.",
        "",
        "| set | pairs | media files | build | pairs/s | rebuild (no write) | rebuild / build | peak RSS of the builds "
        "| version size | embedded export |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        exp = f"{r['export_s']:.2f} s, {r['export_mb']:.1f} MB" if "export_s" in r else "-"
        lines.append(f"| {r['label']} | {r['pairs']:,} | {r['media']:,} | {r['build_s']:.2f} s | "
                     f"{r['pairs_per_s']:,.0f} | {r['rebuild_s']:.2f} s | {r['rebuild_s'] / r['build_s']:.1%} | "
                     f"{r['peak_rss_mb']:,.0f} MB | {r['version_mb']:.1f} MB | {exp} |")
    load = os.getloadavg()[0]
    lines += ["", "Goals: peak RSS <= 1.5 GB at 1 M and at 2 M pairs (flat), build >= 35.7 k pairs/s (the in-memory "
              "build's rate), rebuild of an unchanged selection <= 10 % of a build. Each set's builds run in a "
              "process of their own (peak RSS is theirs); setup runs apart.",
              f"Measured {time.strftime('%Y-%m-%d')}; 1-minute load average {load:.1f} on {os.cpu_count()} cores "
              "when the run ended.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", default="1000000,2000000", help="metadata-only pairs: one set per comma-separated size")
    ap.add_argument("--media-pairs", type=int, default=10_000, help="pairs with one image each")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "BENCHMARKS.md")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-versions-"))
    try:
        results = [bench_set("metadata", int(n), work, embed=False) for n in args.pairs.split(",")]
        results.append(bench_set("with-media", args.media_pairs, work, embed=True))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for r in results:
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()})
    text = render(results)
    print(text)
    if not args.no_write:
        write_section("versions-bench", text, args.out)


if __name__ == "__main__":
    main()
