"""Start-up: how long each `umedata` command takes to do its first useful thing, beside `python -c pass`.

    .venv/bin/python bench/startup.py            # prints the table and writes its BENCHMARKS.md section
    .venv/bin/python bench/startup.py --no-write

A command imports only what it uses (heavy libraries inside the command that needs them), so `--help` and a
one-row `sql` stay well under a second on an idle machine. For `annotate` the figure is the time from starting the
process to the first request reaching a local OpenAI-compatible server (tests/openai_server.py, its own process):
what a user waits for before anything is sent, and what a kill soon after start tests. Each figure is the median
of several runs of a fresh process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks_md import machine, write_section  # bench/ is on the path when a script runs

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

UMEDATA = [sys.executable, "-m", "umedata"]


def timed(cmd: list[str], runs: int) -> float:
    """Median wall seconds of `cmd` run `runs` times (each must succeed)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def first_request(wh: Path, cfg: Path, url: str) -> float:
    """Seconds from starting `umedata annotate` to the server's first request."""
    def total() -> int:
        with urllib.request.urlopen(f"{url.removesuffix('/v1')}/stats", timeout=10) as r:
            return json.loads(r.read())["total"]

    before = total()
    t0 = time.perf_counter()
    proc = subprocess.Popen([*UMEDATA, "annotate", "-c", str(cfg), "-w", str(wh), "--no-progress", "--limit", "50"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while total() == before:
        if proc.poll() is not None:
            raise RuntimeError("annotate ended before sending anything")
        time.sleep(0.002)
    took = time.perf_counter() - t0
    proc.wait()
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    import teacher_helpers as th

    from umedata.warehouse import Warehouse

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wh = Warehouse(tmp / "w.duckdb")
        wh.init()
        th.seed(wh, tmp, n_pairs=2000, images=False)
        w = str(wh.path)
        rows: list[tuple[str, float]] = [("python -c pass", timed([sys.executable, "-c", "pass"], args.runs))]
        for label, cmd in [
            ("umedata --help", ["--help"]),
            ("umedata sql \"SELECT 1\"", ["sql", "SELECT 1", "-w", w]),
            ("umedata status", ["status", "-w", w]),
            ("umedata quarantine list", ["quarantine", "list", "-w", w]),
            ("umedata versions list", ["versions", "list", "-w", w]),
            ("umedata ingest --help", ["ingest", "--help"]),
            ("umedata annotate --help", ["annotate", "--help"]),
            ("umedata run --list", ["run", "--list"]),
        ]:
            rows.append((label, timed([*UMEDATA, *cmd], args.runs)))
            print(f"{label:32} {rows[-1][1] * 1000:8.0f} ms", flush=True)

        server = subprocess.Popen([sys.executable, str(REPO / "tests" / "openai_server.py"), "--latency", "0.05"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            port = int(server.stdout.readline().split()[1])
            url = f"http://127.0.0.1:{port}/v1"
            cfg = th.toml_config(tmp / "t.toml", url, lease_ttl_s=30.0)
            firsts = [first_request(wh.path, cfg, url) for _ in range(args.runs)]
        finally:
            server.kill()
        rows.append(("umedata annotate: first request", statistics.median(firsts)))
        print(f"{rows[-1][0]:32} {rows[-1][1] * 1000:8.0f} ms", flush=True)

    base = rows[0][1]
    lines = ["## Start-up (`bench/startup.py`)", "",
             f"Median of {args.runs} fresh processes per row; `annotate` is timed from process start to the first "
             "request reaching a local test server (a warehouse of 4,000 pending sides).", "",
             "| command | wall time | × `python -c pass` |", "|---|---:|---:|"]
    lines += [f"| `{label}` | {t * 1000:,.0f} ms | {t / base:,.1f} |" for label, t in rows]
    lines += ["", f"Measured {time.strftime('%Y-%m-%d')} on {machine()}."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("startup-bench", text)


if __name__ == "__main__":
    main()
