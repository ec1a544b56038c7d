"""Run a command on a busy machine: N CPU-bound processes spin beside it until it ends (`make test-busy`).

    python tests/busy.py --spinners 2 -- make test

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
    print(f"[busy] {' '.join(cmd)}: exit {rc} after {time.monotonic() - t0:.0f} s beside {args.spinners} spinning "
          f"processes; load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
