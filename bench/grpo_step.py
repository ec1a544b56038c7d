"""GRPO step benchmark: time per generation batch split into generation / scoring / update, beside TRL's
GRPOTrainer on the same model, data, G and completion length, in the same run; rollouts/s for both.

What one step is, on both sides: P pairs -> 2P prompts (query: an image + text; target: a caption, with the 28x28
blank image the trainer gives text-only sides) -> G completions each at temperature 1, up to L tokens -> the
reward r_format + rank x gap over the step's rollouts, with the generative embedding from a forward of the policy
over prompt + completion -> group advantages -> one clipped-surrogate + k3 KL (beta 0.04) update, the loss divided
by L (TRL: loss_type "dr_grpo", the same normalisation).
  * ours: python -m training.grpo's own loop (training.grpo.main), figures from its metrics.jsonl.
  * TRL: GRPOTrainer with one reward function that computes the same reward (training/reward.py) from the same
    embedding forward of the model it trains; ordered prompts (shuffle_dataset=False) so every step holds whole
    pairs. Timed by wrapping its generation (`_generate_single_turn`) and generate-and-score methods; update =
    the rest of the step. TRL recomputes the embeddings in the reward (a forward of its own) while ours reuse the
    update's forward when a rank's rollouts fit one forward (--micro-batch 0): that forward is where the two
    differ by design.
Both use the tiny Qwen2-VL with random weights (training/tiny.py, <disc_emb>/<gen_emb> added) on CPU, 1 thread.
A random model rarely stops, so most completions run to L on both sides; completion tokens/s is reported too.

TRL is never installed in the project's environment: the bench makes a side venv (--trl-venv, default
bench/.trl-venv, git-ignored) whose site-packages include the project's (a .pth file), pip-installs `trl`
there without dependencies (torch, transformers, accelerate, datasets are the project's own), and runs the TRL
half in it as a subprocess. Without network or with --no-trl the TRL half is skipped with the reason printed.

GPU (when CUDA is available): our loop on a Qwen2-VL-2B-shaped model with random weights (bench/train_step.py's
config; the vocabulary is the tiny tokenizer's, so the output layer is smaller than the real 151,936 rows and N
below counts it as built), bf16 autocast, gradient checkpointing, --backend auto (vLLM colocated when installed).
MFU of the update phase = 6 * N * (prompt + completion tokens) / (update time * peak bf16 FLOP/s), N = LLM
parameters per token (decoder layers + output layer), beside EasyR1's published 16-23 % for a 7B VLM on 8 x H100.

    python bench/grpo_step.py                      # CPU: ours and TRL, prints a markdown table
    python bench/grpo_step.py --write              # and replaces the grpo section of BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

SECTION = "grpo-bench"
EASYR1_MFU = "16-23 %"  # EasyR1's published MFU for a 7B VLM (Qwen2.5-VL-7B) on 8 x H100
TRL_SPEC = "trl==1.16.0"


# -------------------------------------------------------------------------------------------------------- data
def write_version(root: Path, pairs: int) -> Path:
    """A dataset version directory (docs/interfaces.md) of `pairs` image -> caption pairs, media embedded."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image, ImageDraw

    from umedata.format import FORMAT_VERSION

    rows = []
    for i in range(pairs):
        img = Image.new("RGB", (56, 56), "white")
        ImageDraw.Draw(img).ellipse([8 + i % 3 * 4, 10, 40, 42], fill=(40 * i % 255, 90, 200))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        caption = f"a shape number {i}"
        rows.append({
            "pair_id": f"p{i}", "dataset_name": "bench", "modality": "image", "task": "retrieval", "split": "train",
            "qry_side_id": f"q{i}", "pos_side_id": f"t{i}", "qry_text": "Find the caption of this image.",
            "pos_text": caption, "qry_images": [{"bytes": buf.getvalue(), "path": None}], "pos_images": [],
            "qry_video": [], "pos_video": [], "qry_reasoning": "The image shows a round shape.",
            "qry_summary": caption, "pos_reasoning": f"The caption names {caption}.", "pos_summary": caption,
            "negatives": [], "format_version": FORMAT_VERSION,
        })
    (root / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "data" / "train-00000-of-00001.parquet")
    manifest = {"version_id": "bench", "kind": "rl", "format_version": FORMAT_VERSION, "media_root": None,
                "splits": {"train": ["data/train-00000-of-00001.parquet"]}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def model_with_tokens(out: Path, build) -> Path:
    """A model folder whose vocabulary already has <disc_emb>/<gen_emb> (both trainers then load the same)."""
    import torch

    from training import data
    from training import model as M

    src = build(out.parent / (out.name + "_base"))
    hf, tok = M.load(str(src))
    hf.save_pretrained(out)
    tok.save_pretrained(out)
    data.Renderer(str(src), tok).save(out)
    del hf
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return out


# --------------------------------------------------------------------------------------------------------- ours
def bench_ours(model: Path, version: Path, args, device: str = "cpu", extra: list[str] | None = None) -> dict:
    from training import grpo

    with tempfile.TemporaryDirectory() as tmp:
        grpo.main(["--dataset", str(version), "--model", str(model), "--out", tmp, "--steps",
                   str(args.warmup + args.steps), "--batch", str(args.pairs), "--group", str(args.group),
                   "--max-completion-length", str(args.max_completion_length), "--micro-batch", "0",
                   "--threads", str(args.threads), "--no-progress", "--no-tensorboard", "--no-export",
                   "--device", device, *(extra or [])])
        rows = [json.loads(line) for line in Path(tmp, "metrics.jsonl").read_text().splitlines()][args.warmup :]
    med = {k: statistics.median(r[k] for r in rows)
           for k in ("time_generate", "time_score", "time_update", "step_time", "completion_len", "tokens")}
    rollouts = rows[0]["pool_rollouts"]
    return {"trainer": "umedata training.grpo", "rollouts": rollouts, "generate_s": med["time_generate"],
            "score_s": med["time_score"], "update_s": med["time_update"], "step_s": med["step_time"],
            "completion_len": med["completion_len"], "tokens": med["tokens"],
            "rollouts_per_s": rollouts / med["step_time"],
            "completion_tokens_per_s": rollouts * med["completion_len"] / med["step_time"]}


# ---------------------------------------------------------------------------------------------------------- TRL
def trl_python(args) -> tuple[str | None, str]:
    """(python of an environment where trl imports, how it was found), or (None, why not)."""
    try:
        import trl  # noqa: F401

        return sys.executable, "trl is importable here"
    except ImportError:
        pass
    venv = Path(args.trl_venv)
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
        ours = subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
        # the project's packages (torch, transformers, accelerate, datasets, its editable install) seen from there
        Path(site, "_umedata_project.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    probe = [str(py), "-c", "import trl; print(trl.__version__)"]
    if subprocess.run(probe, capture_output=True).returncode != 0:
        pip = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", args.trl_spec],
                             capture_output=True, text=True)
        if pip.returncode != 0:
            return None, f"pip could not install {args.trl_spec} into {venv}: {pip.stderr.strip()[-300:]}"
    done = subprocess.run(probe, capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"trl does not import in {venv}: {done.stderr.strip()[-300:]}"
    shown = Path(venv).resolve()
    shown = shown.relative_to(REPO) if shown.is_relative_to(REPO) else shown  # the repo's own path says nothing
    return str(py), f"trl {done.stdout.strip()} in the side venv {shown}"


def run_trl_half(model: Path, version: Path, args) -> dict:
    """Inside an environment with trl: GRPOTrainer on the same model, prompts, G, L and reward."""
    import torch
    from datasets import Dataset
    from transformers import AutoImageProcessor, Qwen2VLProcessor, TrainerCallback
    from transformers.processing_utils import ProcessorMixin
    from trl import GRPOConfig, GRPOTrainer

    from training import data, generation, reward
    from training import model as M
    from umedata.format import user_text

    torch.set_num_threads(args.threads)

    class ImageOnlyProcessor(Qwen2VLProcessor):
        """Qwen2VLProcessor without its video processor (which imports torchvision, absent from the CPU env)."""

        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    hf, tok = M.load(str(model))
    ids = M.add_embedding_tokens(hf, tok)
    for name, p in hf.named_parameters():  # what ours trains by default: the ViT frozen, its merger and the LLM not
        p.requires_grad_(not name.startswith("model.visual.") or ".merger." in name)
    renderer = data.Renderer(str(model), tok)
    processor = ImageOnlyProcessor(AutoImageProcessor.from_pretrained(str(model)), tok, renderer.chat_template)
    net = M.EmbeddingModel(hf, ids["<disc_emb>"], ids["<gen_emb>"])  # shares hf: the embeddings are the policy's

    version_rows = data.open_version(version).read_split("train").to_pylist()
    records, sides = [], {}
    for j, row in enumerate(version_rows):  # ordered q0, t0, q1, t1, ...: every step holds whole pairs
        for role, side in enumerate(data.sides_of_row(row)[:2]):
            images = [renderer.load_image(r) for r in side.images] or [data.blank_image()]
            prompt = [{"role": "user", "content": [{"type": "image"}] * len(images)
                       + [{"type": "text", "text": user_text(side.text)}]}]
            sides[side.side_id] = renderer.render(side, completion=False)
            records.append({"prompt": prompt, "images": images, "pair": j, "role": role, "side_id": side.side_id})

    timers = {"generate": 0.0, "generate_and_score": 0.0}

    def embedding_reward(prompts, completions, completion_ids, pair, role, side_id, **kwargs):
        rendered = [sides[s] for s in side_id]
        with torch.no_grad():
            batch = generation.completion_batch(rendered, [list(c) for c in completion_ids], renderer.pad_id)
            out = net(batch)
        texts = tok.batch_decode(completion_ids, skip_special_tokens=False)
        keys = torch.tensor([data.side_key(s) for s in side_id])
        is_target = torch.tensor(role).bool()
        pool = reward.score(out.gen, keys, is_target, reward.format_ok(texts),
                            reward.pool_pairs(torch.tensor(pair), keys, is_target), args.group)
        return pool.reward.tolist()

    per_step = 2 * args.pairs * args.group
    config = GRPOConfig(
        output_dir=str(Path(args.tmp) / "trl"), per_device_train_batch_size=per_step, gradient_accumulation_steps=1,
        num_generations=args.group, max_completion_length=args.max_completion_length, temperature=1.0, top_p=1.0,
        beta=0.04, epsilon=0.2, epsilon_high=0.28, num_iterations=1, loss_type="dr_grpo", scale_rewards="group",
        learning_rate=1e-6, max_steps=args.warmup + args.steps, logging_steps=1, report_to=[], save_strategy="no",
        use_cpu=True, bf16=False, gradient_checkpointing=False, shuffle_dataset=False, remove_unused_columns=False,
        dataloader_num_workers=0, seed=0, disable_tqdm=True)
    trainer = GRPOTrainer(model=hf, reward_funcs=embedding_reward, args=config, train_dataset=Dataset.from_list(
        records), processing_class=processor)

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timers[name] += time.perf_counter() - t
        return wrapper

    trainer._generate_single_turn = timed("generate", trainer._generate_single_turn)
    trainer._generate_and_score_completions = timed("generate_and_score", trainer._generate_and_score_completions)
    steps: list[dict] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t = time.perf_counter()
            for key in timers:
                timers[key] = 0.0

        def on_step_end(self, *a, **k):
            steps.append({"step_s": time.perf_counter() - self.t, **timers})

    trainer.add_callback(Clock())
    trainer.train()
    completion_len = [x["completions/mean_length"] for x in trainer.state.log_history if "completions/mean_length"
                      in x][args.warmup :]
    rows = steps[args.warmup :]
    med = {k: statistics.median(r[k] for r in rows) for k in ("step_s", "generate", "generate_and_score")}
    clen = statistics.median(completion_len) if completion_len else float("nan")
    return {"trainer": "TRL GRPOTrainer", "rollouts": per_step, "generate_s": med["generate"],
            "score_s": med["generate_and_score"] - med["generate"], "update_s": med["step_s"] - med["generate_and_score"],
            "step_s": med["step_s"], "completion_len": clen, "rollouts_per_s": per_step / med["step_s"],
            "completion_tokens_per_s": per_step * clen / med["step_s"]}


# ---------------------------------------------------------------------------------------------------------- GPU
def bench_gpu(args) -> dict:
    import torch
    from train_step import PEAK_BF16_TFLOPS, qwen2vl_2b_config
    from transformers import AutoModelForImageTextToText

    from training import tiny

    name = torch.cuda.get_device_name(0)
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    with tempfile.TemporaryDirectory() as tmp:
        small = tiny.build(Path(tmp) / "tokenizer_source")
        folder = Path(tmp) / "qwen2vl_2b_shape"
        config = qwen2vl_2b_config()
        hf_tok = __import__("transformers").AutoTokenizer.from_pretrained(str(small))
        config.text_config.vocab_size = (len(hf_tok) + 2 + 63) // 64 * 64  # room for <disc_emb>/<gen_emb>
        for key in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id"):
            tok_name = {"image_token_id": "<|image_pad|>", "video_token_id": "<|video_pad|>",
                        "vision_start_token_id": "<|vision_start|>", "vision_end_token_id": "<|vision_end|>"}[key]
            setattr(config, key, hf_tok.convert_tokens_to_ids(tok_name))
        config.text_config.bos_token_id = config.text_config.eos_token_id = hf_tok.convert_tokens_to_ids("<|im_end|>")
        hf = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
        hf.save_pretrained(folder)
        for f in Path(small).iterdir():
            if f.is_file() and not f.name.startswith(("model", "config")):
                shutil.copy(f, folder / f.name)
        text = hf.model.language_model
        n = sum(p.numel() for k, p in text.named_parameters() if "embed_tokens" not in k) + hf.lm_head.weight.numel()
        del hf
        version = write_version(Path(tmp) / "version", args.gpu_pairs)
        gargs = argparse.Namespace(**{**vars(args), "pairs": args.gpu_pairs, "max_completion_length": args.gpu_len,
                                      "threads": 0})
        r = bench_ours(folder, version, gargs, "cuda", ["--grad-ckpt", "--backend", "auto", "--micro-batch", "16",
                                                        "--attn", args.attn])
    r.update(device=name, model=f"Qwen2-VL-2B shape, random weights, vocab {config.text_config.vocab_size}", N=n)
    r["tokens_per_s"] = r["tokens"] / r["step_s"]
    r["mfu_update"] = 6 * n * r["tokens"] / (r["update_s"] * peak * 1e12) if peak else None
    return r


# ------------------------------------------------------------------------------------------------------- report
def markdown(rows: list[dict], notes: list[str], args) -> str:
    from benchmarks_md import machine

    lines = ["## GRPO step (bench/grpo_step.py)", "",
             f"One generation batch: {args.pairs} pairs x 2 sides x G {args.group} = {2 * args.pairs * args.group} "
             f"rollouts of up to {args.max_completion_length} tokens, reward over the batch, one update; median of "
             f"{args.steps} steps after {args.warmup} warm-up, tiny Qwen2-VL (random weights), CPU, "
             f"{args.threads} thread(s).", "",
             "| trainer | device | rollouts | generation | scoring | update | step | rollouts/s | completion tokens/s "
             "| mean completion |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['trainer']} | {r.get('device', 'CPU')} | {r['rollouts']} | {r['generate_s']:.2f} s | "
                     f"{r['score_s']:.2f} s | {r['update_s']:.2f} s | {r['step_s']:.2f} s | {r['rollouts_per_s']:.1f} "
                     f"| {r['completion_tokens_per_s']:,.0f} | {r['completion_len']:.1f} |")
    for r in rows:
        if r.get("mfu_update") is not None:
            lines += ["", f"GPU: {r['tokens_per_s']:,.0f} tokens/s end to end; update-phase MFU "
                      f"{100 * r['mfu_update']:.1f} % (N = {r['N']:,}) beside EasyR1's published {EASYR1_MFU} for "
                      "a 7B VLM on 8 x H100."]
    lines += ["", f"Measured {time.strftime('%Y-%m-%d')} on {machine()}."] + [f"{n}" for n in notes]
    return "\n".join(lines) + "\n"


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=4, help="pairs per generation batch")
    ap.add_argument("--group", type=int, default=4, help="G")
    ap.add_argument("--max-completion-length", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--trl", action=argparse.BooleanOptionalAction, default=True, help="run the TRL half")
    ap.add_argument("--trl-venv", default=str(REPO / "bench" / ".trl-venv"))
    ap.add_argument("--trl-spec", default=TRL_SPEC)
    ap.add_argument("--gpu-pairs", type=int, default=16)
    ap.add_argument("--gpu-len", type=int, default=512)
    ap.add_argument("--attn", default="sdpa")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--write", nargs="?", const="BENCHMARKS.md", default=None,
                    help="replace this bench's section of BENCHMARKS.md (or of the file given)")
    ap.add_argument("--trl-half", default=None, help=argparse.SUPPRESS)  # internal: MODEL,VERSION,OUT_JSON
    args = ap.parse_args(argv)

    import torch

    from training import tiny

    torch.set_num_threads(args.threads)
    if args.trl_half:
        model, version, out = args.trl_half.split(",")
        args.tmp = str(Path(out).parent)
        Path(out).write_text(json.dumps(run_trl_half(Path(model), Path(version), args)))
        return []

    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        model = model_with_tokens(Path(tmp) / "tiny", tiny.build)
        version = write_version(Path(tmp) / "version", args.pairs)
        rows.append(bench_ours(model, version, args))
        if args.trl:
            py, how = trl_python(args)
            if py is None:
                notes.append(f"TRL half skipped: {how}.")
            else:
                out = Path(tmp) / "trl.json"
                env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(args.threads),
                       "TOKENIZERS_PARALLELISM": "false"}
                cmd = [py, __file__, "--trl-half", f"{model},{version},{out}", "--pairs", str(args.pairs),
                       "--group", str(args.group), "--max-completion-length", str(args.max_completion_length),
                       "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads)]
                done = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if done.returncode != 0 or not out.exists():
                    notes.append(f"TRL half failed ({how}): {done.stderr.strip()[-500:]}")
                else:
                    rows.append(json.loads(out.read_text()))
                    notes.append(f"TRL: {how}.")
        else:
            notes.append("TRL half skipped: --no-trl.")
    if len(rows) == 2:
        notes.append(f"Per rollout, ours is {rows[0]['rollouts_per_s'] / rows[1]['rollouts_per_s']:.2f}x TRL's "
                     "rollouts/s.")
    if torch.cuda.is_available():
        rows.append(bench_gpu(args))
    else:
        notes.append("GPU row: not measured (no CUDA device on this machine); on a GPU box the same command adds "
                     "the Qwen2-VL-2B-shaped row with tokens/s and MFU.")
    block = markdown(rows, notes, args)
    print(block)
    print(json.dumps(rows, indent=2, default=str))
    if args.write:
        from benchmarks_md import write_section

        write_section(SECTION, block, Path(args.write) if args.write != "BENCHMARKS.md" else REPO / "BENCHMARKS.md")
    return rows


if __name__ == "__main__":
    main()
