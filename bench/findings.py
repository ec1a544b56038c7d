"""The paper's findings at toy scale: one run on the bundled sample with the tiny model, on CPU, each with its figure.

    .venv/bin/python bench/findings.py                  # the whole run; prints the tables
    .venv/bin/python bench/findings.py --write          # ... and writes them to BENCHMARKS.md ("findings" section)
    .venv/bin/python bench/findings.py --sft-steps 300 --rl-steps 4 --pass-queries 4    # a quick look

What runs (one fresh warehouse under --out; every step the project's own command or library function):
  1. ingest examples/sample (sources.toml) and its eval sets (eval_sets.toml), the offline teacher, an SFT version
     (source splits, decontaminated against the eval sets);
  2. a tiny random Qwen2-VL (training/tiny.py) trained by training.sft;
  3. the SFT checkpoint evaluated on the eval sets as the benchmark scores them (training.evaluate: Hit@1 over each
     query's own candidates, NDCG@5 for the visual documents; disc, gen, oracle; greedy generation), then pass@k from
     8 samples per query on the first --pass-queries queries of each set (the greedy embeddings come from the cache),
     and gen read after the teacher's own reasoning (teacher-forced, on the SFT version's eval split) as a diagnostic:
     what gen scores when the reasoning is right;
  4. RL: rollouts of the SFT checkpoint on a pool of train pairs (--rl-pool per dataset, K = 4), scored offline
     (training.score_rollouts), loaded, the RL set curated by reward variance (umedata.versions.rl), GRPO
     (training.grpo) from the SFT checkpoint on it;
  5. the RL checkpoint evaluated the same way; both evaluations recorded in eval_runs / eval_scores, so
     `umedata eval-sets compare -w <out>/warehouse/umedata.duckdb` shows RL beside SFT.

Each finding is checked on the mean over the eval sets of each set's headline metric (chance is the mean of
1 / list size). "reproduced" means the inequality holds in this run; nothing is tuned until it does. The tiny
model's settings are the ones the repo's tiny CPU runs use (lr 2e-3 for SFT on a random-weight model, 2e-4 for its
GRPO, a 128-token generation cap); they are printed with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks_md import machine, write_section  # bench/ is on the path when a script runs

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from umedata.evals import results  # noqa: E402
from umedata.evals.export import export_eval_sets  # noqa: E402
from umedata.evals.ingest import ingest_eval_set  # noqa: E402
from umedata.ingest import ingest_source  # noqa: E402
from umedata.markdown import table  # noqa: E402
from umedata.rollouts import load as load_rollouts  # noqa: E402
from umedata.sources.config import load_sources  # noqa: E402
from umedata.sources.eval_config import load_eval_sets  # noqa: E402
from umedata.teacher.annotate import run_teacher  # noqa: E402
from umedata.teacher.config import load_config  # noqa: E402
from umedata.teacher.run import Selection  # noqa: E402
from umedata.versions import SftSpec, build_sft_set  # noqa: E402
from umedata.versions.rl import RlSpec, build_rl_set  # noqa: E402
from umedata.warehouse import Warehouse  # noqa: E402

SAMPLE = REPO / "examples" / "sample"
MODES = ("disc", "gen", "oracle")


def sh(args: list[str], threads: int, log: Path) -> None:
    """A training module as its own process (as the flows launch them), its output in a log file."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    t0 = time.time()
    with log.open("w") as f:
        done = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT)
    print(f"  {args[0]} ({time.time() - t0:.0f} s)", flush=True)
    if done.returncode:
        raise SystemExit(f"{args[0]} failed ({done.returncode}); see {log}:\n" + log.read_text()[-3000:])


def evaluate(model: Path, eval_dir: str, out: Path, args, extra: list[str], log: str) -> dict:
    sh(["training.evaluate", "--model", str(model), "--eval-sets", eval_dir, "--out", str(out), "--no-progress",
        "--max-completion-length", str(args.cap), "--threads", str(args.threads), "--cache-dir",
        str(args.out / "eval-cache"), *extra], args.threads, args.out / log)
    return json.loads(out.read_text())


def prepare(args) -> tuple[Warehouse, dict, dict]:
    wh = Warehouse(args.out / "warehouse" / "umedata.duckdb")
    wh.init()
    for spec in load_sources(SAMPLE / "sources.toml"):
        ingest_source(wh, spec)
    for spec in load_eval_sets(SAMPLE / "eval_sets.toml"):
        ingest_eval_set(wh, spec)
    run_teacher(wh, load_config(None, backend="offline"), Selection())
    sft = build_sft_set(wh, SftSpec(name="sample-sft", split_mode="source", preference=("offline-template", "*")))
    return wh, sft.summary() | {"decontamination": sft.manifest["decontamination"]}, export_eval_sets(wh)


def rl_stage(wh: Warehouse, sft_model: Path, args) -> tuple[Path, dict]:
    """Rollouts on a pool of train pairs, offline scores, curation by reward variance, GRPO; (model, RL set info)."""
    datasets = wh.sql("SELECT DISTINCT dataset_name FROM pairs ORDER BY 1").column(0).to_pylist()
    pool = build_sft_set(wh, SftSpec(name="rl-pool", split_mode="source", source_splits=("train",),
                                     preference=("offline-template", "*"), caps={d: args.rl_pool for d in datasets}))
    roll, scores = args.out / "rollouts", args.out / "rollouts" / "scores"
    sh(["training.rollout", "--checkpoint", str(sft_model), "--dataset", pool.path, "--out", str(roll), "--k", "4",
        "--max-completion-length", str(args.cap), "--seed", str(args.seed), "--threads", str(args.threads),
        "--no-progress"], args.threads, args.out / "rollout.log")
    sh(["training.score_rollouts", "--rollouts", str(roll), "--dataset", pool.path, "--out", str(scores),
        "--pool-size", "16", "--threads", str(args.threads)], args.threads, args.out / "score.log")
    load_rollouts(wh, roll)
    load_rollouts(wh, scores)
    rl = build_rl_set(wh, RlSpec(name="rl", sft_version=pool.version_id, target=args.rl_target, seed=args.seed))
    sh(["training.grpo", "--dataset", rl.result.path, "--model", str(sft_model), "--out", str(args.out / "grpo"),
        "--batch", str(args.rl_batch), "--group", "4", "--max-completion-length", str(args.cap), "--lr",
        str(args.rl_lr), "--steps", str(args.rl_steps), "--micro-batch", "0", "--seed", str(args.seed),
        "--threads", str(args.threads),
        "--no-progress"], args.threads, args.out / "grpo.log")
    return args.out / "grpo" / "model", {"pool_pairs": pool.manifest["n_rows"], "rl_pairs": rl.info["selected"]}


def pass_at(report: dict) -> dict[str, dict[str, float]]:
    return report["mean"]["pass@k"]


def render(f: dict) -> tuple[str, str]:
    """(the findings table, the per-category table) as markdown."""
    sft, rl, sft_p, rl_p, tf = f["sft"], f["rl"], f["sft_pass"], f["rl_pass"], f["teacher_forced"]
    best = max(sft["mean"]["disc"], sft["mean"]["gen"])
    ks = sorted(pass_at(sft_p), key=int)
    gen_k = [pass_at(sft_p)[k]["gen"] for k in ks]
    rl_k = " / ".join(f"{pass_at(rl_p)[k]['gen']:.3f}" for k in ks)

    def yes(ok: bool) -> str:
        return "yes" if ok else "**no**"

    rows = [
        {"finding": "gen beats disc after SFT",
         "figure": f"SFT gen {sft['mean']['gen']:.3f} vs disc {sft['mean']['disc']:.3f} (gen after the teacher's own "
                   f"reasoning, teacher-forced: {tf['mean']['gen']:.3f} vs disc {tf['mean']['disc']:.3f})",
         "reproduced": yes(sft["mean"]["gen"] > sft["mean"]["disc"])},
        {"finding": "the oracle of the two beats both",
         "figure": f"SFT oracle {sft['mean']['oracle']:.3f} vs the better of the two {best:.3f}",
         "reproduced": yes(sft["mean"]["oracle"] > best)},
        {"finding": "RL (GRPO on the curated RL set) beats SFT on gen",
         "figure": f"gen {sft['mean']['gen']:.3f} -> {rl['mean']['gen']:.3f} "
                   f"({rl['mean']['gen'] - sft['mean']['gen']:+.4f}; disc {sft['mean']['disc']:.3f} -> "
                   f"{rl['mean']['disc']:.3f}, oracle {sft['mean']['oracle']:.3f} -> {rl['mean']['oracle']:.3f})",
         "reproduced": yes(rl["mean"]["gen"] > sft["mean"]["gen"])},
        {"finding": "pass@k rises with k",
         "figure": "SFT gen pass@" + "/".join(ks) + " = " + " / ".join(f"{v:.3f}" for v in gen_k)
                   + f" (RL: {rl_k})",
         "reproduced": yes(all(b > a for a, b in zip(gen_k, gen_k[1:])))},
    ]
    findings = table(rows, ["finding", "figure", "reproduced"])
    cats = sorted(sft["categories"])
    per = []
    for name, rep in (("SFT", sft), ("RL", rl)):
        for mode in MODES:
            per.append({"checkpoint": name, "embedding": mode,
                        **{c: f"{rep['categories'][c][mode]:.3f}" for c in cats}, "mean": f"{rep['mean'][mode]:.3f}"})
    per.append({"checkpoint": "chance", "embedding": "", **{c: f"{sft['categories'][c]['chance']:.3f}" for c in cats},
                "mean": f"{sft['mean']['chance']:.3f}"})
    per.append({"checkpoint": "SFT", "embedding": "gen_emb share", **{c: "" for c in cats},
                "mean": f"{sft['gen_emb_share']:.3f}"})
    return findings, table(per, ["checkpoint", "embedding", *cats, "mean"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "findings")
    ap.add_argument("--hidden", type=int, default=64, help="the tiny model's width (training/tiny.py)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--sft-steps", type=int, default=1500)
    ap.add_argument("--sft-lr", type=float, default=2e-3)
    ap.add_argument("--cap", type=int, default=128, help="generation cap (tokens) for evaluation, rollouts and GRPO")
    ap.add_argument("--pass-queries", type=int, default=12, help="queries per set sampled 8 times for pass@k")
    ap.add_argument("--rl-pool", type=int, default=16, help="train pairs per dataset rolled out for curation")
    ap.add_argument("--rl-target", type=int, default=48, help="pairs in the curated RL set")
    ap.add_argument("--rl-batch", type=int, default=8, help="GRPO generation batch (pairs)")
    ap.add_argument("--rl-steps", type=int, default=12)
    ap.add_argument("--rl-lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0, help="the tiny model's init, SFT, rollouts, GRPO, pass@k sampling")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="write the tables to BENCHMARKS.md")
    args = ap.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} is not empty: the findings start from a fresh warehouse (remove it)")
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    print("1. data: ingest, eval sets, offline teacher, SFT version", flush=True)
    wh, version, exported = prepare(args)
    print(f"  version {version['version_id'][:12]}: {version['by_split']}; decontamination: "
          f"{version['decontamination']['excluded']} pair(s) left out", flush=True)
    print("2. SFT", flush=True)
    sh(["training.tiny", "--out", str(args.out / "tiny"), "--hidden", str(args.hidden), "--layers", str(args.layers),
        "--seed", str(args.seed)], 1, args.out / "tiny.log")
    sft_model = args.out / "sft" / "model"
    sh(["training.sft", "--dataset", version["path"], "--model", str(args.out / "tiny"), "--out",
        str(args.out / "sft"), "--steps", str(args.sft_steps), "--micro-batch", "16", "--lr", str(args.sft_lr),
        "--warmup", "0.05", "--seed", str(args.seed), "--no-progress", "--threads", str(args.threads)], args.threads,
       args.out / "sft.log")
    print("3. evaluate SFT", flush=True)
    f = {"sft": evaluate(sft_model, exported["path"], args.out / "eval-sft.json", args, [], "eval-sft.log")}
    f["sft_pass"] = evaluate(sft_model, exported["path"], args.out / "pass-sft.json", args,
                             ["--pass-k", "1,2,4,8", "--max-queries", str(args.pass_queries), "--seed", str(args.seed)],
                             "pass-sft.log")
    sh(["training.evaluate", "--model", str(sft_model), "--dataset", version["path"], "--split", "eval",
        "--gen-mode", "teacher", "--out", str(args.out / "eval-teacher-forced.json"), "--no-progress", "--threads",
        str(args.threads)], args.threads, args.out / "eval-teacher-forced.log")
    f["teacher_forced"] = json.loads((args.out / "eval-teacher-forced.json").read_text())
    print("4. RL: rollouts, scores, curation, GRPO", flush=True)
    rl_model, rl_info = rl_stage(wh, sft_model, args)
    print("5. evaluate RL", flush=True)
    f["rl"] = evaluate(rl_model, exported["path"], args.out / "eval-rl.json", args, [], "eval-rl.log")
    f["rl_pass"] = evaluate(rl_model, exported["path"], args.out / "pass-rl.json", args,
                            ["--pass-k", "1,2,4,8", "--max-queries", str(args.pass_queries), "--seed", str(args.seed)],
                            "pass-rl.log")
    for key, model in (("sft", sft_model), ("rl", rl_model), ("sft_pass", sft_model), ("rl_pass", rl_model)):
        results.record(wh, f[key], model)
    minutes = (time.time() - t0) / 60
    findings, per_category = render(f)
    settings = (f"tiny Qwen2-VL (hidden {args.hidden}, {args.layers} layers), SFT {args.sft_steps} steps x 16 pairs at lr {args.sft_lr}, "
                f"GRPO {args.rl_steps} steps x {args.rl_batch} pairs x G 4 at lr {args.rl_lr} on the {rl_info['rl_pairs']} "
                f"pairs curated from {rl_info['pool_pairs']} rolled out (K 4), generation cap {args.cap} tokens, pass@k from 8 "
                f"samples on {args.pass_queries} queries per set, seed {args.seed}; {len(f['sft']['datasets'])} eval sets, "
                f"{sum(d['queries'] for d in f['sft']['datasets'].values())} queries")
    body = "\n".join([
        "## The paper's findings at toy scale", "",
        "`.venv/bin/python bench/findings.py --write` (one run, bundled sample, CPU; "
        f"{minutes:.0f} min on {machine()}).", "", settings + ".", "", findings, "",
        "Mean over each category's eval sets of its headline metric (Hit@1; NDCG@5 for visual documents):", "",
        per_category, ""])
    print("\n" + body)
    (args.out / "findings.md").write_text(body)
    (args.out / "findings.json").write_text(json.dumps({k: {kk: v[kk] for kk in ("mean", "categories")}
                                                        for k, v in f.items()}, indent=2))
    if args.write:
        write_section("findings", body)


if __name__ == "__main__":
    main()
