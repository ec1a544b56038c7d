"""Retrieval evaluation of both embeddings on a split of a dataset version.

For every dataset in the split: each row's query is scored against the dataset's distinct positive targets (the
candidate pool; chance = 1 / its size). Metrics: Hit@1 (NDCG@5 for visual-document datasets) with the
discriminative embedding, the generative one, and the per-instance oracle (a query counts if either embedding
gets it). Both metrics read one rank of the positive, with ties counted against it (1 + the candidates scoring
at least as high), so a collapsed model whose embeddings all tie scores 0, not 1.

Generative embeddings come from greedy generation of up to --max-completion-length tokens (default 2048, the
reference's RL cap: real reasoning runs ~400 tokens, so a short cap stops before <gen_emb> and understates gen),
then one forward over prompt + completion (training.generation.sample); the share of completions that
emitted <gen_emb> and that match the format regex is reported. `--gen-mode teacher` reads the generative
embedding from the split's own annotations instead (teacher-forced, what SFT optimises), useful for debugging.
Text-only sides get the 28x28 white image the model was trained with (--no-blank-image if it was trained
without); the report records both settings.

Run:
    python -m training.evaluate --model runs/sft/model --dataset DIR --split eval --out runs/sft/eval.json
    # the tiny CPU model: its completions are short, and 2048 greedy steps on CPU take minutes for a model that
    # rarely reaches <gen_emb> anyway, so cap generation for a quick look
    python -m training.evaluate --model runs/sft/model --dataset DIR --max-completion-length 64 --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import torch

from training import data, generation
from training import model as model_lib
from umedata.format import FORMAT_REGEX, GEN_EMB


def _encode(net, renderer, tokenizer, sides: list[data.Side], batch_size: int, max_completion_length: int,
            gen_mode: str, device) -> dict:
    disc, gen, texts, found, truncated = [], [], [], [], 0
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    for k in range(0, len(sides), batch_size):
        chunk = sides[k : k + batch_size]
        with torch.no_grad(), autocast:
            rendered = [renderer.render(s, completion=gen_mode != "generate") for s in chunk]
            truncated += sum(1 for r in rendered if any(r["cut"].values()))
            if gen_mode == "generate":
                out = generation.sample(net, tokenizer, [generation.Prompt(r) for r in rendered],
                                        generation.greedy(max_completion_length))
                d, g, t, f = out.disc, out.gen, out.texts, out.gen_found
            else:
                batch = data.collate(rendered, renderer.pad_id, "right")
                batch = {key: v.to(device) if torch.is_tensor(v) else v for key, v in batch.items()}
                out = net(batch)
                d, g, f, t = out.disc, out.gen, out.gen_found, [""] * len(chunk)
        disc.append(d.float().cpu())
        gen.append(g.float().cpu())
        texts += t
        found += f.cpu().tolist()
    return {"disc": torch.cat(disc), "gen": torch.cat(gen), "texts": texts, "found": found, "truncated": truncated}


def positive_rank(sims: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """1-based rank of each query's positive among its candidates (rows of `sims`), ties counted against it:
    1 + the number of other candidates scoring >= the positive. A NaN score counts against the positive too, so
    neither a collapsed nor a broken model can look good."""
    p = sims.gather(1, pos[:, None])
    at_least = (sims >= p) | sims.isnan() | p.isnan()
    return at_least.sum(dim=1)  # the positive itself is counted once: that is the "1 +"


def _scores(q: torch.Tensor, c: torch.Tensor, pos: torch.Tensor, metric: str) -> torch.Tensor:
    """Per-query metric from the one rank above: Hit@1, or NDCG@5 with one relevant candidate."""
    rank = positive_rank(q @ c.T, pos)
    if metric == "hit@1":
        return (rank == 1).float()
    return torch.where(rank <= 5, 1.0 / torch.log2(rank.float() + 1), torch.zeros_like(rank, dtype=torch.float))


def evaluate(model_dir: str, dataset: str, split: str = "eval", max_queries: int | None = None, batch_size: int = 32,
             max_completion_length: int = model_lib.MAX_COMPLETION_LENGTH, gen_mode: str = "generate",
             device: str | None = None, min_pixels: int = 784, max_pixels: int = 2_359_296,
             blank_image: bool = True) -> dict:
    t0 = time.time()
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    version = data.open_version(dataset)
    rows = version.read_split(split).to_pylist()
    hf, tokenizer = model_lib.load(model_dir)
    ids = model_lib.add_embedding_tokens(hf, tokenizer)
    net = model_lib.EmbeddingModel(hf, ids["<disc_emb>"], ids["<gen_emb>"]).to(dev).eval()
    renderer = data.Renderer(model_dir, tokenizer, media_root=version.media_root(), min_pixels=min_pixels,
                             max_pixels=max_pixels, blank_image=blank_image)

    by_dataset: dict[str, list[dict]] = {}
    for row in rows:
        by_dataset.setdefault(row["dataset_name"], []).append(row)
    results, texts, truncated = {}, [], 0
    for name in sorted(by_dataset):
        group = by_dataset[name][:max_queries] if max_queries else by_dataset[name]
        candidates: dict[str, data.Side] = {}
        for row in by_dataset[name]:  # the pool is every distinct target of the dataset, even past max_queries
            q, t, _ = data.sides_of_row(row)
            candidates.setdefault(t.side_id, t)
        queries = {}
        for row in group:
            q, _, _ = data.sides_of_row(row)
            queries.setdefault(q.side_id, q)
        cand_ids, qry_ids = list(candidates), list(queries)
        enc_c = _encode(net, renderer, tokenizer, [candidates[i] for i in cand_ids], batch_size,
                        max_completion_length, gen_mode, dev)
        enc_q = _encode(net, renderer, tokenizer, [queries[i] for i in qry_ids], batch_size, max_completion_length,
                        gen_mode, dev)
        truncated += enc_c["truncated"] + enc_q["truncated"]
        q_index = {s: k for k, s in enumerate(qry_ids)}
        c_index = {s: k for k, s in enumerate(cand_ids)}
        rows_q = torch.tensor([q_index[r["qry_side_id"]] for r in group])
        pos = torch.tensor([c_index[r["pos_side_id"]] for r in group])
        metric = "ndcg@5" if group[0]["modality"] == "visdoc" else "hit@1"
        per = {kind: _scores(enc_q[kind][rows_q], enc_c[kind], pos, metric) for kind in ("disc", "gen")}
        oracle = torch.maximum(per["disc"], per["gen"])
        results[name] = {
            "metric": metric, "queries": len(group), "candidates": len(cand_ids), "chance": 1.0 / len(cand_ids),
            "disc": per["disc"].mean().item(), "gen": per["gen"].mean().item(), "oracle": oracle.mean().item(),
        }
        texts += enc_q["texts"] + enc_c["texts"]

    summary = {k: sum(r[k] for r in results.values()) / len(results) for k in ("disc", "gen", "oracle", "chance")}
    report = {
        "model": str(model_dir), "dataset_version_id": version.version_id, "split": split, "gen_mode": gen_mode,
        "max_completion_length": max_completion_length, "blank_image": blank_image,
        "truncated_sides": truncated, "datasets": results, "mean": summary, "seconds": time.time() - t0,
    }
    if gen_mode == "generate":
        report["gen_emb_share"] = sum(GEN_EMB in t for t in texts) / max(1, len(texts))
        report["format_ok_share"] = sum(FORMAT_REGEX.search(t) is not None for t in texts) / max(1, len(texts))
        report["examples"] = texts[:3]
    return report


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--split", default="eval")
    ap.add_argument("--max-queries", type=int, default=None, help="per dataset")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-completion-length", type=int, default=model_lib.MAX_COMPLETION_LENGTH,
                    help="cap on generated tokens per side (the reference's RL cap, 2048; lower it only for quick "
                         "looks: a cap below the reasoning's length cuts <gen_emb> off)")
    ap.add_argument("--gen-mode", default="generate", choices=["generate", "teacher"])
    ap.add_argument("--min-pixels", type=int, default=784)
    ap.add_argument("--max-pixels", type=int, default=2_359_296)
    ap.add_argument("--blank-image", action=argparse.BooleanOptionalAction, default=True,
                    help="a 28x28 white image on text-only sides, as in training (the reference's default)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the report as JSON here")
    return ap


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    report = evaluate(args.model, args.dataset, args.split, args.max_queries, args.batch_size,
                      args.max_completion_length, args.gen_mode, args.device, args.min_pixels, args.max_pixels,
                      args.blank_image)
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return report


if __name__ == "__main__":
    main()
