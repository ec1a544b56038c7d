"""Run a command on a busy machine: N CPU-bound processes spin beside it until it ends (`make test-busy`).

    python tests/busy.py --spinners 2 -- make test
    python tests/busy.py --spinners 2 --record test -- make test     # and its row in BENCHMARKS.md ("Busy machine")

A 2-core CI box shared with other jobs, or a laptop compiling something, is what users run on; timeouts that only
hold on an idle machine show up here. Exits with the command's status.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import time


def spin() -> None:
    x = 0
    while True:  # pure Python arithmetic: one core at 100 % until killed
        x = (x * 1103515245 + 12345) % 2147483648


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spinners", type=int, default=2)
    ap.add_argument("--record", metavar="LABEL", help="write the outcome as row LABEL of BENCHMARKS.md's busy section")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("give a command after --")
    spinners = [mp.Process(target=spin, daemon=True) for _ in range(args.spinners)]
    for p in spinners:
        p.start()
    t0 = time.monotonic()
    try:
        rc = subprocess.call(cmd)
    finally:
        load = os.getloadavg()
        for p in spinners:
            p.kill()
    wall = time.monotonic() - t0
    print(f"[busy] {' '.join(cmd)}: exit {rc} after {wall:.0f} s beside {args.spinners} spinning "
          f"processes; load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}", file=sys.stderr)
    if args.record:
        record(args.record, cmd, rc, wall, args.spinners, load)
    return rc


def record(label: str, cmd: list[str], rc: int, wall: float, spinners: int, load: tuple[float, ...]) -> None:
    """One row per label in the "busy-bench" section of BENCHMARKS.md (the other rows stay)."""
    import re

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
    from benchmarks_md import BENCHMARKS, machine, write_section

    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else ""
    old = re.search(r"<!-- busy-bench:begin -->(.*?)<!-- busy-bench:end -->", text, re.DOTALL)
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| (\S+) \|.*$", old.group(1), re.M)} if old else {}
    rows.pop("label", None)
    rows[label] = (f"| {label} | `{' '.join(cmd)}` | {'passed' if rc == 0 else f'FAILED (exit {rc})'} | {wall / 60:.1f} min "
                   f"| {spinners} | {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} | {time.strftime('%Y-%m-%d')} |")
    body = ["## A busy machine (`tests/busy.py`)", "",
            "The command runs beside CPU-bound processes that spin until it ends (`make test-busy`, `make demo-busy`): "
            f"a shared machine. Measured on {machine()}.", "",
            "| label | command | outcome | wall time | spinners | load average at the end (1 / 5 / 15 min) | date |",
            "|---|---|---|---:|---:|---|---|", *rows.values()]
    write_section("busy-bench", "\n".join(body))


if __name__ == "__main__":
    sys.exit(main())
