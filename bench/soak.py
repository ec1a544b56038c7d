"""Kill -9 soak: SIGKILL a real run at random moments, many times, then let one run finish; count what was lost,
doubled or paid twice, from the server's and the warehouse's own records.

    .venv/bin/python bench/soak.py                      # teacher, ingest and rollouts, 20 kills each; writes BENCHMARKS.md
    .venv/bin/python bench/soak.py teacher --kills 5 --no-write

teacher: `umedata annotate` against the local OpenAI-compatible test server (its own process) with faults on
(429, 500, 503, slow answers (3 s, inside the client's 5 s timeout), truncated `length` answers, malformed answers, non-JSON
bodies). Kills are aimed in turn at a random moment, at a commit (a sealed staged batch exists: the writer is
applying it) and at a lease transaction (the DuckDB write-ahead log exists but no sealed batch: a lease, a heartbeat
or a release is being written). What each kill actually hit is read off the files at the instant of the kill.
Reported: lost annotations (answered OK by the server, never recorded), duplicated annotations, answers paid twice
against the requests in flight at the kills (sent or answered but not committed: the only ones allowed to be sent
again), leases left stale at the end, and the time a new run takes to send its first request after a kill.

rollout: `python -m training.rollout` (the tiny model, CPU) killed at random and while a shard is being written, then
run to completion; every rollout key must be on disk exactly once and a second `umedata rollouts load` adds nothing.
A kill costs at most the batch being generated (shards are written per batch).

ingest: `umedata ingest` of a JSON Lines file with small commits, killed while staging, while committing and at
random; after every kill (and the recovery the next run starts with) the warehouse must be whole (every pair's
sides present, every batch all or nothing); a last run completes and a re-ingest adds nothing.

Not part of `make test`: tests/test_teacher_exactly_once.py and tests/test_ingest_crash.py keep short versions.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
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
FAULTS = {"429": 0.03, "500": 0.02, "503": 0.02, "slow": 0.01, "length": 0.02, "malformed": 0.02, "bad_json": 0.01}
MODES = ("random", "commit", "lease")
WHAT = ("teacher", "ingest", "rollout")


def count(wh, text: str) -> int:
    return int(wh.sql(text).column(0)[0].as_py())


def in_write(db: Path) -> str | None:
    """What the writer is doing right now, from the files: 'commit' (a sealed staged batch is being applied),
    'lease' (a write transaction with no sealed batch: leases, heartbeats, releases, run records), or None."""
    staging = db.with_name(db.name + ".staging")
    sealed = staging.exists() and any((d / "batch.json").exists() for d in staging.iterdir() if d.name != "failed")
    if sealed:
        return "commit"
    return "lease" if db.with_name(db.name + ".wal").exists() else None


def wait_for(pred, proc: subprocess.Popen, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        if pred():
            return True
        time.sleep(0.0005)
    return False


# -- teacher ----------------------------------------------------------------------------------------------------
def soak_teacher(kills: int, pairs: int, seed: int) -> dict:
    import teacher_helpers as th

    from umedata.warehouse import Warehouse

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wh = Warehouse(tmp / "w.duckdb")
        wh.init()
        sides = th.seed(wh, tmp, n_pairs=pairs, images=False)["sides"]
        server = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "openai_server.py"), "--latency", "0.05", "--seed", str(seed),
             *[x for f, r in FAULTS.items() for x in ("--fault", f"{f}={r}")]],
            stdout=subprocess.PIPE, text=True)
        try:
            port = int(server.stdout.readline().split()[1])
            base = f"http://127.0.0.1:{port}"

            def stats() -> dict:
                with urllib.request.urlopen(f"{base}/stats", timeout=30) as r:
                    return json.loads(r.read())

            # A lease of 2 s and commits every ~0.3 s: many transactions to land kills in, short waits to resume.
            cfg = th.toml_config(tmp / "t.toml", f"{base}/v1", max_in_flight=32, endpoint={"max_in_flight": 32},
                                 lease_chunk=64, commit_every=64, commit_interval_s=0.2, commit_max_interval_s=0.5,
                                 lease_ttl_s=2.0, timeout_s=5.0, max_attempts=6)
            cmd = [*UMEDATA, "annotate", "-c", str(cfg), "-w", str(wh.path), "--no-progress", "--wait-for-leases"]
            hit = {"commit": 0, "lease": 0, "other": 0}
            in_flight_at_kills, resume_s, killed = 0, [], 0
            allowed: set[str] = set()
            for i in range(kills):
                before = stats()["total"]
                t0 = time.monotonic()
                proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if not wait_for(lambda b=before: stats()["total"] > b, proc, 120):
                    proc.wait()
                    break  # finished before sending: nothing left to kill
                resume_s.append(time.monotonic() - t0)
                mode = MODES[i % len(MODES)]
                if mode == "random":
                    time.sleep(rng.uniform(0.0, 2.0))
                else:
                    time.sleep(rng.uniform(0.0, 0.5))
                    wait_for(lambda m=mode: in_write(wh.path) == m, proc, 10)
                state = in_write(wh.path)
                if proc.poll() is not None:
                    continue
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed += 1
                hit[state or "other"] += 1
                snap = stats()
                wh.recover()  # what the next run does first
                done = set(wh.sql("SELECT request_key FROM teacher_requests WHERE status IN ('done', 'failed')")
                           .column(0).to_pylist())
                at_risk = (set(snap["answered"]) - done) | set(snap["inflight"])
                in_flight_at_kills += len(at_risk)
                allowed |= at_risk
            t0 = time.monotonic()
            final = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800)
            if final.returncode:
                raise RuntimeError(final.stderr[-3000:])
            snap = stats()
        finally:
            server.kill()
        keys = count(wh, "SELECT count(*) FROM teacher_requests")
        answered_ok = set(snap["ok"])
        annotated = set(wh.sql("SELECT request_key FROM annotations").column(0).to_pylist())
        paid_twice = {k for k, n in snap["answered"].items() if n > 1}
        return {
            "trials": kills, "killed": killed, "kills_in_commit": hit["commit"], "kills_in_lease_tx": hit["lease"],
            "sides": len(sides), "keys": keys,
            "unfinished": count(wh, "SELECT count(*) FROM teacher_requests WHERE status NOT IN ('done', 'failed')"),
            "lost": len(answered_ok - annotated - set(
                wh.sql("SELECT request_key FROM teacher_requests WHERE status = 'done'").column(0).to_pylist())),
            "annotations": len(annotated),
            "duplicated": count(wh, "SELECT count(*) - count(DISTINCT request_key) FROM annotations"),
            "paid_twice": len(paid_twice), "paid_twice_outside_in_flight": len(paid_twice - allowed),
            "in_flight_at_kills": in_flight_at_kills,
            "ratio": len(paid_twice) / in_flight_at_kills if in_flight_at_kills else 0.0,
            "stale_leases": count(wh, "SELECT count(*) FROM teacher_requests WHERE status IN ('leased', 'exported')"),
            "resume_s_median": statistics.median(resume_s) if resume_s else None,
            "resume_s_max": max(resume_s) if resume_s else None,
            "requests": snap["total"], "faults": snap["faults"],
        }


# -- ingest ------------------------------------------------------------------------------------------------------
def soak_ingest(kills: int, rows: int, seed: int) -> dict:
    from umedata.warehouse import Warehouse

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with open(tmp / "pairs.jsonl", "w") as f:
            for i in range(rows):
                f.write(json.dumps({"q": f"query {i}", "t": f"target {i % 1000}", "n": f"negative {i % 77}"}) + "\n")
        (tmp / "sources.toml").write_text(
            '[[source]]\nname = "soak"\nlayout = "generic"\nroot = "."\n'
            '[[source.datasets]]\nname = "Soak"\npath = "pairs.jsonl"\nmodality = "text"\ntask = "retrieval"\n'
            'columns = { qry = "q", pos = "t", neg = "n" }\n')
        wh = Warehouse(tmp / "w.duckdb")
        wh.init()
        # Small commits (many transactions to land kills in); the chunk size is the ingest's batch_rows.
        child = (
            "import sys; from pathlib import Path; from umedata.ingest import ingest_source; "
            "from umedata.sources.config import load_sources; from umedata.warehouse import Warehouse; "
            f"wh = Warehouse({str(wh.path)!r}); wh.prepare(); "
            f"[ingest_source(wh, s, batch_rows=5000) for s in load_sources(Path({str(tmp / 'sources.toml')!r}))]")
        hit = {"commit": 0, "lease": 0, "staging": 0, "other": 0}
        broken = killed = restarts = 0
        staging = wh.path.with_name(wh.path.name + ".staging")
        for i in range(kills * 3):  # a run that finishes before its kill starts the next round on a fresh file
            if killed == kills:
                break
            proc = subprocess.Popen([sys.executable, "-c", child], cwd=REPO)
            mode = ("random", "commit", "staging")[i % 3]
            time.sleep(rng.uniform(0.3, 1.5))
            if mode == "commit":
                wait_for(lambda: in_write(wh.path) == "commit", proc, 20)
            elif mode == "staging":
                wait_for(lambda: staging.exists() and any(d.name.endswith(".partial") for d in staging.iterdir()),
                         proc, 20)
            state = in_write(wh.path)
            if state is None and staging.exists() and any(d.name.endswith(".partial") for d in staging.iterdir()):
                state = "staging"
            if proc.poll() is not None:  # it finished: start again from an empty warehouse
                for f in tmp.glob("w.duckdb*"):
                    shutil.rmtree(f) if f.is_dir() else f.unlink()
                wh.init()
                restarts += 1
                continue
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed += 1
            hit[state or "other"] += 1
            wh.recover()
            orphans = count(wh, "SELECT count(*) FROM pairs p WHERE NOT EXISTS "
                                "(SELECT 1 FROM sides s WHERE s.side_id = p.qry_side_id) OR NOT EXISTS "
                                "(SELECT 1 FROM sides s WHERE s.side_id = p.pos_side_id)")
            broken += orphans > 0
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", child], cwd=REPO, check=True)
        complete_s = time.monotonic() - t0
        pairs = count(wh, "SELECT count(*) FROM pairs")
        distinct = count(wh, "SELECT count(DISTINCT pair_id) FROM pairs")
        subprocess.run([sys.executable, "-c", child], cwd=REPO, check=True)
        again = count(wh, "SELECT count(*) FROM pairs")
        return {"trials": kills, "killed": killed, "fresh_starts": restarts, "kills_in_commit": hit["commit"], "kills_while_staging":
                hit["staging"], "rows": rows, "pairs": pairs, "duplicated": pairs - distinct,
                "states_with_orphans": broken, "reingest_added": again - pairs, "last_run_s": complete_s}


# -- rollouts ----------------------------------------------------------------------------------------------------
def soak_rollout(kills: int, pairs: int, seed: int) -> dict:
    """`python -m training.rollout` on the tiny steered model, killed at random moments and while a shard is being
    written; then a run to completion, the folder loaded into a warehouse twice."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
    from rollout_fixtures import build_steered
    from training_fixtures import subprocess_env

    from training import data, rollout, tiny
    from umedata import rollouts
    from umedata.ingest import ingest_source
    from umedata.sources.config import load_sources
    from umedata.teacher.annotate import run_teacher
    from umedata.teacher.config import load_config
    from umedata.versions import SftSpec, build_sft_set
    from umedata.warehouse import Warehouse

    rng = random.Random(seed)
    torch.set_num_threads(1)
    k, batch = 4, 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_steered(tiny.build(tmp / "base"), tmp / "model")
        # a version the warehouse knows (its sides must be there for the load): the bundled sample's image pairs,
        # annotated by the offline teacher
        wh = Warehouse(tmp / "w.duckdb")
        wh.init()
        for spec in load_sources(REPO / "examples" / "sample" / "sources.toml"):
            if spec.name == "shapes-mmeb":
                ingest_source(wh, spec)
        run_teacher(wh, load_config(None, backend="offline"))
        version = Path(build_sft_set(wh, SftSpec(name="soak", split_mode="source", datasets=("ShapesCls", "ShapesI2T"),
                                                 caps={"ShapesCls": pairs, "ShapesI2T": pairs})).path)
        out = tmp / "rollouts"
        cmd = [sys.executable, "-m", "training.rollout", "--checkpoint", str(model), "--dataset", str(version),
               "--out", str(out), "--k", str(k), "--max-completion-length", "16", "--batch-size", str(batch),
               "--threads", "1", "--no-progress"]
        shards = lambda: len(list((out / "rollouts").glob("part-*.parquet")))  # noqa: E731
        writing = lambda: any((out / "rollouts").glob(".tmp-part-*"))  # noqa: E731
        hit = {"write": 0, "other": 0}
        killed, resume_s = 0, []
        for i in range(kills):
            before = shards() if out.exists() else 0
            t0 = time.monotonic()
            proc = subprocess.Popen(cmd, cwd=REPO, env=subprocess_env(), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            if not wait_for(lambda b=before: shards() > b, proc, 300):
                proc.wait()
                break  # finished before writing: nothing left to kill
            resume_s.append(time.monotonic() - t0)
            if i % 2:  # aim at a shard being written (the temporary file exists, its rename has not happened): a
                wait_for(writing, proc, 0.4)  # write takes about a millisecond, so many aims miss and kill at random
            else:
                time.sleep(rng.uniform(0.0, 0.4))
            state = "write" if writing() else "other"
            if proc.poll() is not None:
                break  # it finished: the rest of the trials have nothing to kill
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed += 1
            hit[state] += 1
        subprocess.run(cmd, cwd=REPO, env=subprocess_env(), check=True, capture_output=True)
        keys = pa.concat_tables([pq.read_table(p, columns=["rollout_key"])
                                 for p in sorted((out / "rollouts").glob("part-*.parquet"))]).column(0).to_pylist()
        manifest = json.loads((out / "manifest.json").read_text())
        expected = len(rollout.distinct_sides(data.open_version(str(version)).read_split("train"))) * k
        first = rollouts.load(wh, out).as_dict()
        second = rollouts.load(wh, out).as_dict()
        return {"trials": kills, "killed": killed, "kills_while_writing_a_shard": hit["write"],
                "expected": expected, "rollouts": len(keys), "duplicated": len(keys) - len(set(keys)),
                "lost": expected - len(set(keys)),
                "leftover_tmp": len(list((out / "rollouts").glob(".tmp-*"))), "finished": manifest["finished"],
                "loaded": first["new"], "quarantined": first["quarantined"], "reload_added": second["new"],
                "warehouse_rows": count(wh, "SELECT count(*) FROM rollouts"),
                "warehouse_distinct": count(wh, "SELECT count(DISTINCT rollout_key) FROM rollouts"),
                "resume_s_median": statistics.median(resume_s) if resume_s else None,
                "resume_s_max": max(resume_s) if resume_s else None, "batch_rollouts": batch * k}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="*", metavar="{teacher,ingest,rollout}", help="what to soak (default: all three)")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--pairs", type=int, default=3000, help="teacher: pairs seeded (two sides each)")
    ap.add_argument("--rows", type=int, default=400_000, help="ingest: rows of the JSON Lines file")
    ap.add_argument("--rollout-pairs", type=int, default=100, help="rollout: pairs of each of the sample's two image "
                    "datasets in the version rolled out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    args.what = args.what or list(WHAT)
    if set(args.what) - set(WHAT):
        ap.error(f"unknown: {', '.join(sorted(set(args.what) - set(WHAT)))} (choose from {', '.join(WHAT)})")
    lines = ["## Kill -9 soak (`bench/soak.py`)", ""]
    if "teacher" in args.what:
        t = soak_teacher(args.kills, args.pairs, args.seed)
        print(json.dumps(t, indent=2), flush=True)
        lines += [
            f"**Teacher** (`umedata annotate`, {t['sides']:,} sides, faults on: "
            + ", ".join(f"{f} {r:.0%}" for f, r in FAULTS.items()) + "; lease 2 s, commits every ≤ 0.5 s)", "",
            "| trials | killed | in a commit | in a lease transaction | lost | duplicated | paid twice / in flight at "
            "kills | paid twice outside those | stale leases | unfinished keys | resume to first request |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            f"| {t['trials']} | {t['killed']} | {t['kills_in_commit']} | {t['kills_in_lease_tx']} | {t['lost']} | "
            f"{t['duplicated']} | {t['paid_twice']} / {t['in_flight_at_kills']} = {t['ratio']:.2f} | "
            f"{t['paid_twice_outside_in_flight']} | {t['stale_leases']} | {t['unfinished']} | median "
            f"{t['resume_s_median']:.2f} s, max {t['resume_s_max']:.2f} s |", ""]
    if "ingest" in args.what:
        g = soak_ingest(args.kills, args.rows, args.seed)
        print(json.dumps(g, indent=2), flush=True)
        lines += [
            f"**Ingest** (`ingest_source`, {g['rows']:,} JSON Lines rows, a commit every 5,000)", "",
            "| trials | killed | in a commit | while staging | warehouse states with a half-applied batch | pairs "
            "after the last run | duplicated | re-ingest added |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {g['trials']} | {g['killed']} | {g['kills_in_commit']} | {g['kills_while_staging']} | "
            f"{g['states_with_orphans']} | {g['pairs']:,} | {g['duplicated']} | {g['reingest_added']} |", ""]
    if "rollout" in args.what:
        r = soak_rollout(args.kills, args.rollout_pairs, args.seed)
        print(json.dumps(r, indent=2), flush=True)
        lines += [
            f"**Rollouts** (`python -m training.rollout`, tiny model on CPU, {r['expected']:,} rollouts = sides x K 4, "
            f"a shard per batch of {r['batch_rollouts']}; then `umedata rollouts load` twice)", "",
            "| trials | killed | while writing a shard | lost | duplicated | temporary files left | loaded | "
            "quarantined | second load added | resume to first shard |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            f"| {r['trials']} | {r['killed']} | {r['kills_while_writing_a_shard']} | {r['lost']} | {r['duplicated']} | "
            f"{r['leftover_tmp']} | {r['loaded']:,} | {r['quarantined']} | {r['reload_added']} | median {r['resume_s_median']:.2f} s, "
            f"max {r['resume_s_max']:.2f} s |", ""]
    lines.append(f"Measured {time.strftime('%Y-%m-%d')} on {machine()}.")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("soak-bench", text)


if __name__ == "__main__":
    main()
