"""Ingest throughput: metadata ingest of generated MMEB-layout rows, and media hashing.

    python bench/ingest.py                      # 1 M rows as parquet and as JSON Lines; writes BENCHMARKS.md
    python bench/ingest.py --rows 200000 --runs parquet:50000 --no-write

The rows are metadata only: text-only sides and references to a handful of shared images (hashed once per run),
so the figure is the cost of reading, id derivation, side deduplication and warehouse commits. Every row is a
distinct pair; targets repeat (class-label style), so sides are fewer than 2 per pair. Media hashing is
measured separately: streaming sha256 of large files, and resolving (hash + decode header) many small images.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from benchmarks_md import write_section  # bench/ is on the path when a script runs

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from umedata.ingest import ingest_source  # noqa: E402
from umedata.ingest.dedup import is_known  # noqa: E402
from umedata.media import MediaResolver, sha256_file  # noqa: E402
from umedata.sources.config import DatasetSpec, SourceSpec  # noqa: E402
from umedata.warehouse import Warehouse  # noqa: E402

SHARED_IMAGES = 4
LABELS = 1000


def make_rows(n: int) -> pa.Table:
    """MMEB-train rows: even rows image->text (shared image, distinct question), odd rows text->image."""
    i = pa.array(range(n), pa.int64()).to_pylist()
    img = [f"images/shared_{k % SHARED_IMAGES}.png" for k in i]
    qry = [
        f"<|image_1|>\nRepresent the given image with the following question: what is in picture {k}?"
        if k % 2 == 0
        else f"Find an everyday image that matches the given caption: a photo numbered {k}"
        for k in i
    ]
    return pa.table(
        {
            "qry": qry,
            "qry_image_path": [img[k] if k % 2 == 0 else "" for k in i],
            "pos_text": [f"label {k % LABELS}" if k % 2 == 0 else "" for k in i],
            "pos_image_path": ["" if k % 2 == 0 else img[k] for k in i],
            "neg_text": [""] * n,
            "neg_image_path": [""] * n,
        }
    )


def write_images(root: Path) -> None:
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    for k in range(SHARED_IMAGES):
        Image.new("RGB", (64, 64), (40 * k, 80, 120)).save(root / "images" / f"shared_{k}.png")


class TimedWarehouse(Warehouse):
    """Adds up the time spent inside the warehouse writer's commits (they run beside the preparation)."""

    commit_s = 0.0

    def commit(self, batch):
        t0 = time.perf_counter()
        try:
            return super().commit(batch)
        finally:
            self.commit_s += time.perf_counter() - t0


class DiscardingWarehouse(TimedWarehouse):
    """Stages every batch and throws it away: the throughput of ingest's own work, without the commit."""

    def commit(self, batch):
        if not batch.sealed:
            batch.seal()
        shutil.rmtree(batch.dir, ignore_errors=True)
        return {}


def bench_prepare(tmp: Path, rows: pa.Table, batch_rows: int) -> dict:
    root = tmp / "src_prepare"
    tmp.mkdir(parents=True, exist_ok=True)
    write_images(root)
    pq.write_table(rows, root / "train.parquet", row_group_size=batch_rows)
    wh = DiscardingWarehouse(tmp / "wh_prepare" / "umedata.duckdb")
    wh.init()
    spec = SourceSpec(
        name="bench_prepare",
        layout="mmeb",
        root=root,
        datasets=[DatasetSpec(name="BenchMMEB", path="train.parquet", task="retrieval")],
    )
    t0 = time.perf_counter()
    s = ingest_source(wh, spec, batch_rows=batch_rows)
    secs = time.perf_counter() - t0
    assert s.rows_seen == rows.num_rows and s.quarantined == 0, s.as_dict()
    return {"rows": rows.num_rows, "seconds": secs, "pairs_per_s": rows.num_rows / secs, "batch_rows": batch_rows}


BAD_EVERY = 10_000  # the jsonl-bad run plants one bad line in every 10,000 (100 per million), of rotating kinds
BAD_LINES = (b'{"qry": "unterminated', b'{"qry": "caf\xe9 latin-1", "pos_text": "x"}', b"[1, 2, 3]",
             b'{"qry": 42, "pos_text": "a number where text belongs"}')
BAD_REASONS = ("bad_json", "non_utf8", "wrong_type", "wrong_type")


def bench_ingest(tmp: Path, rows: pa.Table, fmt: str, batch_rows: int) -> dict:
    bad = fmt == "jsonl-bad"
    ext = "jsonl" if bad else fmt
    root = tmp / f"src_{fmt}"
    tmp.mkdir(parents=True, exist_ok=True)
    write_images(root)
    path = root / f"train.{ext}"
    planted: dict[str, int] = {}
    if fmt == "parquet":
        pq.write_table(rows, path, row_group_size=batch_rows)
    else:
        import json

        with open(path, "wb") as f:
            for i, r in enumerate(rows.to_pylist()):
                if bad and i % BAD_EVERY == BAD_EVERY // 2:
                    k = (i // BAD_EVERY) % len(BAD_LINES)
                    f.write(BAD_LINES[k] + b"\n")
                    planted[BAD_REASONS[k]] = planted.get(BAD_REASONS[k], 0) + 1
                else:
                    f.write(json.dumps(r).encode() + b"\n")
    wh = TimedWarehouse(tmp / f"wh_{fmt}" / "umedata.duckdb")
    wh.init()
    spec = SourceSpec(
        name=f"bench_{fmt}",
        layout="mmeb",
        root=root,
        datasets=[DatasetSpec(name="BenchMMEB", path=path.name, task="retrieval")],
    )
    done = [0]

    def progress(n: int) -> None:
        done[0] = n
        print(f"\r  {fmt}: {n:>9,} rows", end="", file=sys.stderr, flush=True)

    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    s = ingest_source(wh, spec, batch_rows=batch_rows, progress=progress)
    secs = time.perf_counter() - t0
    commit_s, wh.commit_s = wh.commit_s, 0.0
    print(file=sys.stderr)
    n_bad = sum(planted.values())
    # Every planted line quarantined with its own reason, every other line landed.
    assert s.pairs_new == rows.num_rows - n_bad and s.reasons == planted, s.as_dict()
    t1 = time.perf_counter()
    again = ingest_source(wh, spec, batch_rows=batch_rows)
    secs_again = time.perf_counter() - t1
    assert again.pairs_new == 0 and again.sides_new == 0, again.as_dict()
    return {
        "format": f"jsonl with {n_bad} bad lines" if bad else fmt,
        "rows": rows.num_rows,
        "seconds": secs,
        "pairs_per_s": rows.num_rows / secs,
        "sides": s.sides_new,
        "bytes": path.stat().st_size,
        "reingest_s": secs_again,
        "commit_s": commit_s,
        "batch_rows": batch_rows,
        "load": max(load, os.getloadavg()[0]),
    }


def bench_hashing(tmp: Path, big_mb: int, n_images: int) -> dict:
    from PIL import Image

    big = tmp / "hash"
    big.mkdir()
    files = []
    for k in range(4):
        p = big / f"blob{k}.bin"
        p.write_bytes(os.urandom(big_mb // 4 << 20))
        files.append(p)
    t0 = time.perf_counter()
    for p in files:
        sha256_file(p)
    sha_secs = time.perf_counter() - t0
    imgs = tmp / "imgs"
    imgs.mkdir()
    noise = Image.effect_noise((448, 448), 64).convert("RGB")
    for k in range(n_images):
        noise.rotate(k % 360).save(imgs / f"im{k}.jpg", quality=90)
    total = sum(p.stat().st_size for p in imgs.iterdir())
    resolver = MediaResolver(tmp, tmp / "store")
    t0 = time.perf_counter()
    for k in range(n_images):
        resolver.resolve(f"imgs/im{k}.jpg")
    res_secs = time.perf_counter() - t0
    return {
        "sha_mb_s": big_mb / sha_secs,
        "big_mb": big_mb,
        "images": n_images,
        "img_kb": total / n_images / 1024,
        "img_per_s": n_images / res_secs,
        "img_mb_s": total / (1 << 20) / res_secs,
    }


def bench_known_lookup(known: int, probe: int) -> dict:
    """The re-ingest's dedup step alone: one chunk of pair ids tested against a source's known ids."""
    import duckdb

    con = duckdb.connect()
    ids = "SELECT left(sha256(i::VARCHAR), 32) AS id FROM range($lo, $hi) t(i)"
    known_ids = con.sql(ids, params={"lo": 0, "hi": known}).to_arrow_table()["id"].combine_chunks()
    # Half the chunk known, half new, as in a grown file.
    chunk = con.sql(ids, params={"lo": known - probe // 2, "hi": known + probe - probe // 2}).to_arrow_table()["id"]
    chunk = chunk.combine_chunks()
    con.close()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        hits = int(is_known(chunk, known_ids).sum())
        times.append(time.perf_counter() - t0)
    assert hits == probe // 2
    return {"known": known, "probe": probe, "ms": min(times) * 1000}


def report(results: list[dict], prepare: dict, hashing: dict, lookup: dict) -> str:
    lines = [
        "## Ingest (bench/ingest.py)",
        "",
        f"Metadata ingest of {results[0]['rows']:,} generated MMEB-train rows (text sides and references to "
        f"{SHARED_IMAGES} shared images; targets repeat like class labels) into a fresh warehouse, then the same "
        "source again (adds nothing). Goal: >= 100k pairs/s, JSON Lines included, also with bad lines planted "
        f"(one in {BAD_EVERY:,}, rotating bad JSON, non-UTF-8, a non-object and a wrong type: each lands in "
        "quarantine with its line number and reason, checked). Commits run beside the preparation of the next "
        "batch; their time is shown because it bounds the whole.",
        "",
        "| input | rows per commit | sides stored | seconds | pairs/s | in commits, s | re-ingest, s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['format']} ({r['bytes'] / 1e6:.0f} MB) | {r['batch_rows']:,} | {r['sides']:,} | "
            f"{r['seconds']:.1f} | {r['pairs_per_s']:,.0f} | {r['commit_s']:.1f} | {r['reingest_s']:.1f} |"
        )
    load = max(r["load"] for r in results)
    lines += [
        "",
        f"Ingest's own work (read, canonicalise, resolve media, derive ids, stage parquet) with every commit "
        f"discarded: {prepare['pairs_per_s']:,.0f} pairs/s (parquet, {prepare['batch_rows']:,} rows per batch). "
        "The difference is the warehouse commit: the anti-join that keeps content keys unique in pairs and sides, "
        "and the checkpoint DuckDB writes when the file is closed after each batch.",
        "",
        f"Known-pair lookup (the re-ingest's dedup step): a chunk of {lookup['probe']:,} pair ids against "
        f"{lookup['known']:,} known ones in {lookup['ms']:.0f} ms.",
        "",
        f"Media hashing: streaming sha256 {hashing['sha_mb_s']:,.0f} MB/s ({hashing['big_mb']} MB of large files); "
        f"resolving {hashing['images']} JPEGs of {hashing['img_kb']:.0f} KB (hash + header + verify) "
        f"{hashing['img_per_s']:,.0f} images/s = {hashing['img_mb_s']:,.0f} MB/s.",
        "",
        f"Measured {date.today().isoformat()} with {os.cpu_count()} CPU cores, no GPU "
        f"({platform.machine()}, Python {platform.python_version()}, pyarrow {pa.__version__}), "
        f"1-minute load average up to {load:.1f} (other processes share the machine, so figures are noisy).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument(
        "--runs",
        default="parquet:250000,jsonl:250000,jsonl-bad:250000,parquet:50000",
        help="FORMAT:ROWS_PER_COMMIT,... (parquet | jsonl | jsonl-bad: one bad line in 10,000; 250,000 rows per "
             "commit is ingest_source's default)",
    )
    ap.add_argument("--hash-mb", type=int, default=512)
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = ap.parse_args()

    rows = make_rows(args.rows)
    results = []
    with tempfile.TemporaryDirectory(prefix="umedata-bench-") as d:
        tmp = Path(d)
        for k, run in enumerate(args.runs.split(",")):
            fmt, batch_rows = run.split(":")
            r = bench_ingest(tmp / str(k), rows, fmt, int(batch_rows))
            results.append(r)
            print(
                f"{fmt}: {r['rows']:,} rows in {r['seconds']:.2f} s = {r['pairs_per_s']:,.0f} pairs/s "
                f"({r['sides']:,} sides; commits {r['commit_s']:.2f} s; re-ingest {r['reingest_s']:.2f} s; "
                f"load {r['load']:.1f})"
            )
        prepare = bench_prepare(tmp / "prepare", rows, 250_000)
        print(f"prepare only (commits discarded): {prepare['pairs_per_s']:,.0f} pairs/s")
        lookup = bench_known_lookup(1_000_000, 250_000)
        print(f"known-pair lookup: {lookup['probe']:,} ids against {lookup['known']:,} known in {lookup['ms']:.0f} ms")
        hashing = bench_hashing(tmp, args.hash_mb, args.images)
    print(
        f"sha256: {hashing['sha_mb_s']:,.0f} MB/s; "
        f"images: {hashing['img_per_s']:,.0f}/s ({hashing['img_mb_s']:,.0f} MB/s)"
    )
    section = report(results, prepare, hashing, lookup)
    if args.no_write:
        print(section)
    else:
        write_section("ingest-bench", section, args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
