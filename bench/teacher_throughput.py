"""Teacher client throughput: requests/s end to end (select + lease + request + parse + commit) against a local
OpenAI-compatible server with fixed latency L, at in-flight cap C; printed beside the ceiling C/L, with the
client's CPU ms per request (also with a 1-megapixel image in every request) and its peak RSS.

    .venv/bin/python bench/teacher_throughput.py                       # C=256, L=200 ms, 10k, 100k and 1M requests
    .venv/bin/python bench/teacher_throughput.py --sizes 10000 --write # and update BENCHMARKS.md

The server (tests/openai_server.py) runs as its own process; each scenario runs in a fresh client process, so
its peak RSS is its own. Nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks_md import peak_rss_mb, write_section  # bench/ is on the path when a script runs

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


# -- child: one scenario in a fresh process -------------------------------------------------------------------
def seed_sides(wh, n: int, image_dir: Path | None, n_images: int = 32) -> None:
    """n sides (n/2 pairs of two text sides, or image query + text target) written straight through the writer."""
    from datetime import datetime

    import pyarrow as pa

    from umedata.ids import side_id

    media_rows, image_shas = [], []
    if image_dir is not None:
        from PIL import Image

        from umedata.media import sha256_file

        image_dir.mkdir(parents=True, exist_ok=True)
        for k in range(n_images):  # 1000x1000 = 1 megapixel, photo-like noise so JPEG size is realistic
            path = image_dir / f"img{k}.jpg"
            Image.effect_noise((1000, 1000), 40 + k).convert("RGB").save(path, quality=90)
            sha = sha256_file(path)
            image_shas.append(sha)
            media_rows.append(
                {
                    "sha256": sha,
                    "kind": "image",
                    "path": str(path),
                    "width": 1000,
                    "height": 1000,
                    "frames": None,
                    "bytes": path.stat().st_size,
                    "format": "JPEG",
                }
            )
    sides, pairs = {"side_id": [], "text": [], "media": [], "modality": []}, []
    for i in range(n // 2):
        media = [image_shas[i % len(image_shas)]] if image_shas else []
        q_text, t_text = f"query {i}: which shape is drawn here?", f"target {i}: a blue circle number {i}"
        q, t = side_id(q_text, media), side_id(t_text, [])
        for sid, text, m in ((q, q_text, media), (t, t_text, [])):
            sides["side_id"].append(sid)
            sides["text"].append(text)
            sides["media"].append(m)
            sides["modality"].append("image" if m else "text")
        pairs.append((f"p{i}", q, t))
    batch = wh.stage()
    batch.add(
        "sources",
        [
            {
                "name": "bench",
                "layout": "generic",
                "root": "/",
                "licence": "none",
                "provenance": "bench",
                "allow_external_teacher": True,
                "options": "{}",
                "registered_at": datetime(2026, 1, 1),
            }
        ],
    )
    if media_rows:
        batch.add("media", media_rows)
    batch.add("sides", pa.table(sides))
    batch.add(
        "pairs",
        pa.table(
            {
                "pair_id": [p[0] for p in pairs],
                "source": ["bench"] * len(pairs),
                "dataset_name": ["Bench"] * len(pairs),
                "modality": ["text"] * len(pairs),
                "task": ["retrieval"] * len(pairs),
                "split": ["train"] * len(pairs),
                "qry_side_id": [p[1] for p in pairs],
                "pos_side_id": [p[2] for p in pairs],
                "negatives": [[] for _ in pairs],
                "source_file": ["b"] * len(pairs),
                "source_row": list(range(len(pairs))),
            }
        ),
    )
    wh.commit(batch)


def make_warehouse(n: int, image: bool) -> Path:
    """A fresh warehouse with n pending sides (built in the parent, so the client's RSS is the run's alone)."""
    from umedata.warehouse import Warehouse

    tmp = Path(tempfile.mkdtemp(prefix="umedata-bench-"))
    wh = Warehouse(tmp / "wh.duckdb")
    wh.init()
    seed_sides(wh, n, tmp / "img" if image else None)
    return wh.path


def child(args: argparse.Namespace) -> None:
    from umedata.teacher.backends.openai_compat import OpenAIBackend
    from umedata.teacher.config import TeacherConfig
    from umedata.teacher.online import OnlineRun
    from umedata.warehouse import Warehouse

    wh = Warehouse(args.warehouse)
    cfg = TeacherConfig.from_dict(
        {
            "backend": "openai",
            "model": "bench-teacher",
            "max_in_flight": args.concurrency,
            "timeout_s": 60,
            "lease_chunk": 2048,
            "lease_ttl_s": 600,  # commit pacing (commit_every, commit_interval_s, commit_duty): the defaults
            "params": {"temperature": 0.0, "max_tokens": 128, "seed": 0},
            "endpoints": [
                {
                    "base_url": args.url,
                    "name": "bench",
                    "self_hosted": True,
                    "max_in_flight": args.concurrency,
                    "transport": args.transport,
                }
            ],
        }
    )
    backend = OpenAIBackend(cfg)
    backend.media_cache.max_bytes = 0  # every request encodes its image: measure that cost, not a cache hit
    run = OnlineRun(wh, cfg, backend=backend)
    # RSS sampled while requests flow, apart from the peak of the one-off selection query (DuckDB's memory,
    # which grows with the warehouse, not with the requests in flight). Only running maxima are kept: a list of
    # every sample would itself grow with the run (~40 k samples at 1 M requests).
    sending = {"rss_mb": None}
    top = {"rss_mb": 0.0, "t_s": 0.0, "answered": 0}  # where the highest sample fell (the selection, sending, the end)
    stop = threading.Event()

    def sample() -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        t_start = time.perf_counter()
        while not stop.wait(0.02):
            answered = run.progress()["answered"]
            with open("/proc/self/statm") as f:
                rss = int(f.read().split()[1]) * page / 2**20
            if answered > 0 and (sending["rss_mb"] is None or rss > sending["rss_mb"]):
                sending["rss_mb"] = rss
            if rss > top["rss_mb"]:
                top.update(rss_mb=rss, t_s=time.perf_counter() - t_start, answered=answered)

    sampler = threading.Thread(target=sample, daemon=True)
    rss0 = peak_rss_mb()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    sampler.start()
    t0 = time.perf_counter()
    summary = run.run()
    wall = time.perf_counter() - t0
    stop.set()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    n_ann = wh.sql("SELECT count(*) AS n FROM annotations").column("n")[0].as_py()
    print(
        json.dumps(
            {
                "n": args.n,
                "image": args.image,
                "transport": args.transport,
                "ok": summary.ok,
                "annotations": n_ann,
                "wall_s": wall,
                "rps": summary.ok / wall,
                "cpu_ms_per_req": 1000 * cpu / max(1, summary.ok),
                "rss_before_mb": rss0,
                "peak_rss_mb": peak_rss_mb(),
                "pipeline_peak_rss_mb": sending["rss_mb"],
                "highest_sample": top,
            }
        )
    )


# -- parent: server + scenarios -------------------------------------------------------------------------------
def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "openai_server.py"), "--latency", str(latency), "--uvloop"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}/v1"


def run_scenario(url: str, n: int, c: int, image: bool, transport: str) -> dict:
    path = make_warehouse(n, image)
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--url",
        url,
        "--n",
        str(n),
        "--concurrency",
        str(c),
        "--transport",
        transport,
        "--warehouse",
        str(path),
    ] + (["--image"] if image else [])
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
        )
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(rows: list[dict]) -> str:
    """The scale goal, read off the text rows on the lean transport: peak RSS and requests/s within 10 % across
    the sizes (max / min <= 1.10)."""
    text = [r for r in rows if not r["image"] and r["transport"] == "aiohttp"]
    if len(text) < 2:
        return "- (one size measured: no spread to report)"
    sizes = " / ".join(f"{r['n']:,}" for r in text)

    def one(name: str, values: list[float], unit: str) -> str:
        ratio = max(values) / min(values)
        figures = " / ".join(f"{v:,.0f}" for v in values)
        return f"{name} {figures} {unit}: max/min {ratio:.3f}, {'met' if ratio <= 1.10 else 'NOT met'}"

    return (f"- Scale goal (within 10 % across {sizes} requests): "
            f"{one('peak RSS', [r['peak_rss_mb'] for r in text], 'MB')}; "
            f"{one('requests/s', [r['rps'] for r in text], 'requests/s')}.")


def write_benchmarks(rows: list[dict], c: int, latency: float, load: tuple[float, float]) -> None:
    table = [
        "## Teacher client throughput (`bench/teacher_throughput.py`)",
        "",
        f"Machine: {os.cpu_count()} cores, no GPU, {platform.python_implementation()} {platform.python_version()}; "
        f"local OpenAI-compatible server (tests/openai_server.py, own process) with fixed latency L = "
        f"{latency * 1000:.0f} ms; in-flight cap C = {c}; ceiling C/L = {c / latency:,.0f} requests/s. "
        "End to end = select + lease + request + parse + commit, from a fresh warehouse. CPU and RSS are the "
        "client process's (server excluded). Measured " + time.strftime("%Y-%m-%d") + f"; load average "
        f"{load[0]:.1f} before / {load[1]:.1f} after"
        + (" (other work shared the 2 cores: these figures are a floor)." if max(load) > 1.5 else "."),
        "",
        "| requests | payload | transport | requests/s | ceiling C/L | client CPU ms/request "
        "| peak RSS MB (while sending) | peak RSS MB (whole run) |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        table.append(
            f"| {r['n']:,} | {'1 MP JPEG image + text' if r['image'] else 'text'} | {r['transport']} | "
            f"{r['rps']:,.0f} | {c / latency:,.0f} | {r['cpu_ms_per_req']:.2f} | {r['pipeline_peak_rss_mb']:.0f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    table += [
        "",
        "Reading the figures:",
        "- The `aiohttp` transport is the lean path (one pooled session, orjson bodies, first attempt outside "
        "tenacity); the `sdk` row is the official `openai` client over its aiohttp transport, kept for providers "
        "that need it. Per request the client's CPU, not the network, is the bound on 2 cores.",
        "- As the warehouse grows: answered requests, responses and annotations live in bulk tables without an "
        "index (keys enforced by the writer, see natural_keys), and leases in a small table of open requests "
        "(0009) that has no index either (0011: DuckDB did not reclaim the deleted rows of the indexed one, and "
        "every lease's checkpoint re-compressed up to a row group of them), so a lease or a commit never reads or "
        "rewrites what is already answered. The selection of pending sides runs in parts of 50k pairs under a "
        "64 MB DuckDB limit; a run's connections use one DuckDB thread and a 32 MB limit, close (checkpoint) under "
        "20 MB and trim the C heap when they close (Warehouse.bounded); a run fixes glibc's mmap and trim thresholds "
        "(32 MiB, 128 KiB: umedata/memory.py) so the arenas of its threads hand back their free tops, which glibc's "
        "own rising trim threshold kept (~10 MB more between commits by 600k requests); Arrow allocates from the "
        "system allocator "
        "(umedata/__init__.py: pyarrow's mimalloc kept what the run's threads freed); a commit's temp table holds "
        "the result columns only, its rows are staged and let go before the transaction, and no transaction lands "
        "more than `commit_every` keys (the results that pile up during the 1-3 s commit that closes a DuckDB row "
        "group, every ~123k rows, land in batches of the usual size). Commit pauses stretch to keep committing "
        "under `commit_duty` (25 %) of the time, paced on a moving average of commit costs. The client runs the "
        "config's defaults for commit pacing (commit_every 2,000, every 2 s).",
        spread(rows),
        "- Peak RSS is the client process's own high-water mark (VmHWM; the warehouse is built in the parent).",
        "- Image rows carry one 1-megapixel JPEG (about 700 KB as a data URL) per request, read and base64-encoded "
        "per request (cache off); RSS is high because each of the 256 requests in flight holds its encoded body. "
        "Its peak varies from run to run (5,000 requests, back to back: 730 to 1,264 MB over ten runs on "
        "2026-11-30, five with each glibc setting; not traced). The fixed glibc thresholds cost these requests "
        "~3 % (690 against 711 requests/s, mean of five interleaved runs each, thresholds fixed or left to glibc).",
    ]
    write_section("teacher-throughput", "\n".join(table))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", "-c", type=int, default=256)
    ap.add_argument("--latency", "-l", type=float, default=0.2)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="request counts for the text scenarios")
    ap.add_argument("--image-n", type=int, default=5000, help="requests in the 1-megapixel image scenario (0: skip)")
    ap.add_argument("--sdk-n", type=int, default=10000, help="requests through the openai SDK transport (0: skip)")
    ap.add_argument("--write", action="store_true", help="update the teacher section of BENCHMARKS.md")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--warehouse", help=argparse.SUPPRESS)
    ap.add_argument("--image", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--transport", default="aiohttp", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    load_before = os.getloadavg()[0]
    proc, url = start_server(args.latency)
    rows = []
    try:
        plan = [(int(n), False, "aiohttp") for n in args.sizes.split(",") if n]
        if args.sdk_n:
            plan.append((args.sdk_n, False, "sdk"))
        if args.image_n:
            plan.append((args.image_n, True, "aiohttp"))
        ceiling = args.concurrency / args.latency
        print(
            f"C={args.concurrency} L={args.latency * 1000:.0f}ms ceiling C/L={ceiling:,.0f} req/s, "
            f"{os.cpu_count()} cores"
        )
        print(
            f"{'requests':>9} {'payload':>7} {'transport':>9} {'req/s':>8} {'ceiling':>8} {'cpu ms/req':>10} "
            f"{'RSS MB sending':>14} {'RSS MB peak':>11}"
        )
        for n, image, transport in plan:
            r = run_scenario(url, n, args.concurrency, image, transport)
            rows.append(r)
            print(
                f"{n:>9,} {'image' if image else 'text':>7} {transport:>9} {r['rps']:>8,.0f} {ceiling:>8,.0f} "
                f"{r['cpu_ms_per_req']:>10.2f} {r['pipeline_peak_rss_mb']:>14.0f} {r['peak_rss_mb']:>11.0f}",
                flush=True,
            )
    finally:
        proc.kill()
    if args.write:
        write_benchmarks(rows, args.concurrency, args.latency, (load_before, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
