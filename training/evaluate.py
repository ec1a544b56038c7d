"""Retrieval evaluation as the benchmark scores it: both embeddings, each query against its own candidates.

What is scored. An eval-set directory (umedata.evals.export; docs/interfaces.md) holds, per eval set, queries, a
candidate list per query (MMEB: the positive and its distractors, ~1,000 for an image set; a BEIR visual-document
set: the whole corpus) and graded qrels. For every query: its candidates are ranked by cosine similarity with the
discriminative embedding, the generative one, and the per-instance oracle takes the better of the two (the query
counts if either gets it). Metrics, per query, then averaged per set, per category (image / video / visdoc: the
mean of its sets) and over all sets:
  * Hit@1: the top-ranked candidate is relevant (MMEB's accuracy);
  * NDCG@5 with every relevant item and its grade: DCG = sum over the top 5 of grade / log2(rank + 1), divided by
    the DCG of the ideal order (linear gains, as trec_eval and BEIR compute it).
The set's headline metric is its own (NDCG@5 for visual documents, Hit@1 otherwise); both are reported.
Ties count against the relevant items: among candidates with equal scores, the relevant ones (and the higher
grades among them) are ranked last, and a NaN score ranks a relevant item last and an irrelevant one first. With
one relevant candidate this is `positive_rank` (1 + the candidates scoring at least as high), so a collapsed model
whose embeddings all tie scores 0, never 1. Chance is 1 / the size of the query's list, averaged.

Generation. Generative embeddings come from greedy completions of up to --max-completion-length tokens (default
2048, the reference's RL cap: real reasoning runs ~400 tokens, so a short cap stops before <gen_emb> and
understates gen), read at the completion's <gen_emb> by one forward over prompt + completion
(training.generation.sample). The share of completions that emitted <gen_emb> (gen_emb_share) and that match the
format regex is reported per set and overall. --gen-mode teacher reads gen from a version split's own annotations
(teacher-forced, what SFT optimises); eval sets carry no annotations, so it needs --dataset.

pass@k (--pass-k 1,2,4,8): each query is sampled n = max(k) times at --temperature (1.0, the rollouts'), seeded per
(side, sample) so results do not depend on batching; a query is solved by a sample when that sample's gen embedding
ranks a relevant candidate first (Hit@1) against the candidates' greedy embeddings. pass@k is the unbiased
estimate from n samples, 1 - C(n - c, k) / C(n, k) (Chen et al. 2021), c the solving samples. Reported for gen, for
disc (which does not depend on sampling: its Hit@1, the same for every k) and for the oracle (solved if disc is, or
if a sample is). pass@1 estimates a single sample's Hit@1; greedy is reported beside it.

Cost. Every distinct side (queries and candidates over all sets) is encoded once per run, and its greedy (and
sampled) embeddings are cached on disk by (checkpoint id, side_id, mode) under --cache-dir (training/embed_cache.py),
so a 1,000-candidate list shared by many queries costs one pass, and a re-run costs none (default: eval-cache/
beside a local model folder; --cache-dir '' turns it off).

Run:
    python -m training.evaluate --model runs/sft/model --eval-sets warehouse/evalsets/ID --out runs/sft/eval.json
    python -m training.evaluate --model runs/sft/model --eval-sets DIR --pass-k 1,2,4,8        # + pass@k
    python -m training.evaluate --model runs/sft/model --dataset warehouse/versions/ID --split eval  # a version split
    # the tiny CPU model: its completions are short, and 2048 greedy steps on CPU take minutes for a model that
    # rarely reaches <gen_emb> anyway, so cap generation for a quick look
    python -m training.evaluate --model runs/sft/model --eval-sets DIR --max-completion-length 64 --threads 2
    # a GPU with vLLM in its environment samples there; the embeddings still come from this model's forward
    python -m training.evaluate --model runs/sft/model --eval-sets DIR --backend vllm
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from training import data, generation
from training import model as model_lib
from training.embed_cache import EmbedCache, Entry
from training.ids import checkpoint_id
from umedata.format import FORMAT_REGEX, FORMAT_VERSION

MODES = ("disc", "gen", "oracle")


def default_cache(model_dir: str) -> str:
    """$UMEDATA_EVAL_CACHE, else eval-cache/ beside a local model folder (inside its run folder), else the user's
    cache (hub names)."""
    if os.environ.get("UMEDATA_EVAL_CACHE"):
        return os.environ["UMEDATA_EVAL_CACHE"]
    if Path(model_dir).is_dir():
        return str(Path(model_dir).resolve().parent / "eval-cache")
    return str(Path.home() / ".cache" / "umedata" / "eval-embeddings")


# ---------------------------------------------------------------------------------------------------------- metrics
def positive_rank(sims: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """1-based rank of each query's positive among its candidates (rows of `sims`), ties counted against it:
    1 + the number of other candidates scoring >= the positive. A NaN score counts against the positive too, so
    neither a collapsed nor a broken model can look good."""
    p = sims.gather(1, pos[:, None])
    at_least = (sims >= p) | sims.isnan() | p.isnan()
    return at_least.sum(dim=1)  # the positive itself is counted once: that is the "1 +"


def ranked_gains(sims: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
    """(Q, C) gains in ranked order, ties broken against the relevant: by score descending, then gain ascending
    (a relevant item sits below every irrelevant one it ties with). NaN: a relevant item last, an irrelevant first."""
    relevant = gains > 0
    s = sims.float()
    s = torch.where(s.isnan(), torch.where(relevant, float("-inf"), float("inf")), s)
    by_gain = torch.argsort(gains, dim=1, stable=True)
    by_score = torch.argsort(-s.gather(1, by_gain), dim=1, stable=True)
    return gains.gather(1, by_gain.gather(1, by_score))


def hit_and_ndcg(sims: torch.Tensor, gains: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per query: Hit@1 and NDCG@k (linear gains, log2 discount) from similarities and graded relevance."""
    gains = gains.float()
    ranked = ranked_gains(sims, gains)
    top = min(k, gains.shape[1])
    discount = 1.0 / torch.log2(torch.arange(2, top + 2, dtype=torch.float))
    dcg = (ranked[:, :top] * discount).sum(1)
    idcg = (gains.sort(dim=1, descending=True).values[:, :top] * discount).sum(1)
    return (ranked[:, 0] > 0).float(), dcg / idcg.clamp(min=1e-12)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c pass (Chen et al. 2021, the numerically stable product)."""
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


# --------------------------------------------------------------------------------------------------------- encoding
class Encoder:
    """Side embeddings for one checkpoint: greedy or sampled generation (cached), or teacher-forced."""

    def __init__(self, net, tokenizer, renderer: data.Renderer, sides: dict[str, data.Side], cache: EmbedCache,
                 batch_size: int, max_completion_length: int, backend, device, progress: bool):
        self.net, self.tokenizer, self.renderer, self.sides = net, tokenizer, renderer, sides
        self.cache, self.batch_size, self.cap, self.backend, self.device = cache, batch_size, \
            max_completion_length, backend, device
        self.progress = progress and sys.stderr.isatty()
        self.truncated = 0

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda" else contextlib.nullcontext()

    def _order(self, ids: list[str]) -> list[str]:
        """Similar sides together (kind of media, then text length): less padding, one image size per batch."""
        def key(s):
            side = self.sides[s]
            return (bool(side.video), len(side.images), len(side.video), len(side.text), s)
        return sorted(ids, key=key)

    def _chunks(self, ids: list[str], size: int, label: str):
        from tqdm import tqdm

        with tqdm(total=len(ids), desc=label, unit="side", disable=not self.progress, file=sys.stderr) as bar:
            for k in range(0, len(ids), size):
                yield ids[k : k + size]
                bar.update(min(size, len(ids) - k))

    def generated(self, ids: list[str], sampling: generation.Sampling, mode: str) -> dict[tuple[str, int], Entry]:
        """(side_id, sample) -> Entry for every side and sample (greedy: sample -1); cached entries are reused."""
        samples = [-1] if sampling.greedy else list(range(sampling.k))
        have = self.cache.get(mode, set(ids))
        todo = self._order([s for s in set(ids) if any((s, j) not in have for j in samples)])
        per_batch = max(1, self.batch_size // len(samples))
        for chunk in self._chunks(todo, per_batch, mode):
            rendered = [self.renderer.render(self.sides[s], completion=False) for s in chunk]
            self.truncated += sum(1 for r in rendered if any(r["cut"].values()))
            prompts = [generation.Prompt(r, s, self.sides[s]) for r, s in zip(rendered, chunk)]
            with torch.no_grad(), self._autocast():
                out = generation.sample(self.net, self.tokenizer, prompts, sampling, self.backend,
                                        encode_batch=self.batch_size)
            disc, gen = out.disc.float().cpu().numpy(), out.gen.float().cpu().numpy()
            entries = [Entry(chunk[out.prompt_index[i]], -1 if sampling.greedy else out.sample_index[i], disc[i],
                             gen[i], bool(out.gen_found[i]), out.texts[i], out.completion_tokens[i],
                             out.finish_reason[i]) for i in range(len(out))]
            self.cache.put(mode, entries)
            have.update({(e.side_id, e.sample): e for e in entries})
        return have

    def teacher_forced(self, ids: list[str]) -> dict[tuple[str, int], Entry]:
        """Gen read at the <gen_emb> of each side's own annotation (version splits only); not cached."""
        out: dict[tuple[str, int], Entry] = {}
        missing = [s for s in ids if self.sides[s].reasoning is None]
        if missing:
            raise ValueError(f"--gen-mode teacher needs annotated sides; {len(missing)} have none (eval sets carry "
                             "no annotations: use --dataset DIR --split eval)")
        for chunk in self._chunks(self._order(list(set(ids))), self.batch_size, "teacher-forced"):
            rendered = [self.renderer.render(self.sides[s]) for s in chunk]
            self.truncated += sum(1 for r in rendered if any(r["cut"].values()))
            batch = data.collate(rendered, self.renderer.pad_id, "right")
            batch = {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            with torch.no_grad(), self._autocast():
                res = self.net(batch)
            disc, gen = res.disc.float().cpu().numpy(), res.gen.float().cpu().numpy()
            for i, s in enumerate(chunk):
                out[(s, -1)] = Entry(s, -1, disc[i], gen[i], bool(res.gen_found[i]), "", 0, "teacher")
        return out


# -------------------------------------------------------------------------------------------------------- scoring
def score_set(name: str, spec: dict, ev: data.EvalSets, greedy: dict, samples: dict | None, ks: list[int],
              max_queries: int | None) -> dict:
    """Per-set figures: both metrics for disc / gen / oracle, chance, generation shares, pass@k."""
    rows = ev.queries.get(name, [])[:max_queries] if max_queries else ev.queries.get(name, [])
    per = {m: {"hit@1": [], "ndcg@5": []} for m in MODES}
    chance, passed = [], {m: {k: [] for k in ks} for m in MODES}
    by_list: dict[str, list[tuple[str, str]]] = {}
    for qid, side, lid in rows:
        by_list.setdefault(lid, []).append((qid, side))
    used: set[str] = set()
    for lid, qs in by_list.items():
        cands = ev.lists[(name, lid)]
        used.update(cands)
        used.update(s for _, s in qs)
        index = {s: i for i, s in enumerate(cands)}
        gains = torch.zeros(len(qs), len(cands))
        for r, (qid, _) in enumerate(qs):
            for s, g in ev.qrels.get((name, qid), {}).items():
                if s in index:
                    gains[r, index[s]] = float(g)
        chance += [1.0 / len(cands)] * len(qs)
        hits = {}
        for kind in ("disc", "gen"):
            c = torch.from_numpy(np.stack([getattr(greedy[(s, -1)], kind) for s in cands]))
            q = torch.from_numpy(np.stack([getattr(greedy[(s, -1)], kind) for _, s in qs]))
            hit, ndcg = hit_and_ndcg(q @ c.T, gains)
            per[kind]["hit@1"].append(hit)
            per[kind]["ndcg@5"].append(ndcg)
            hits[kind] = hit
        per["oracle"]["hit@1"].append(torch.maximum(per["disc"]["hit@1"][-1], per["gen"]["hit@1"][-1]))
        per["oracle"]["ndcg@5"].append(torch.maximum(per["disc"]["ndcg@5"][-1], per["gen"]["ndcg@5"][-1]))
        if samples is not None and ks:
            n = max(ks)
            c = torch.from_numpy(np.stack([greedy[(s, -1)].gen for s in cands]))
            for r, (_, s) in enumerate(qs):
                q = torch.from_numpy(np.stack([samples[(s, j)].gen for j in range(n)]))
                solved, _ = hit_and_ndcg(q @ c.T, gains[r : r + 1].expand(n, -1))
                n_gen = int(solved.sum())
                disc_hit = bool(hits["disc"][r])
                for k in ks:
                    passed["gen"][k].append(pass_at_k(n, n_gen, k))
                    passed["disc"][k].append(float(disc_hit))
                    passed["oracle"][k].append(pass_at_k(n, n if disc_hit else n_gen, k))
    if not rows:
        raise ValueError(f"eval set {name} has no queries")
    out = {"category": spec["category"], "metric": spec["metric"], "queries": len(rows),
           "lists": len(by_list), "candidates": len({s for lid in by_list for s in ev.lists[(name, lid)]}),
           "list_size": float(np.mean([len(ev.lists[(name, lid)]) for lid, _ in by_list.items()])),
           "chance": float(np.mean(chance))}
    for metric in ("hit@1", "ndcg@5"):
        out[metric] = {m: torch.cat(per[m][metric]).mean().item() for m in MODES}
    for m in MODES:  # the headline metric, under the names every reader of the report already uses
        out[m] = out[spec["metric"]][m]
    generated = [greedy[(s, -1)] for s in sorted(used)]
    if all(e.finish_reason != "teacher" for e in generated):
        out["gen_emb_share"] = float(np.mean([e.gen_found for e in generated]))
        out["format_ok_share"] = float(np.mean([FORMAT_REGEX.search(e.text) is not None for e in generated]))
    if samples is not None and ks:
        out["pass@k"] = {str(k): {m: float(np.mean(passed[m][k])) for m in MODES} for k in ks}
    return out


def means(results: dict[str, dict], keys=("disc", "gen", "oracle", "chance")) -> dict:
    return {k: float(np.mean([r[k] for r in results.values()])) for k in keys}


def summarise(results: dict[str, dict], ks: list[int]) -> tuple[dict, dict]:
    """Per-category means (the mean of the category's sets) and the mean over all sets; pass@k likewise."""
    cats: dict[str, dict] = {}
    for name, r in results.items():
        cats.setdefault(r["category"], {})[name] = r
    categories = {c: {**means(rs), "sets": sorted(rs)} for c, rs in sorted(cats.items())}
    overall = means(results)
    if ks and all("pass@k" in r for r in results.values()):
        for target, group in [(overall, results)] + [(categories[c], rs) for c, rs in cats.items()]:
            target["pass@k"] = {str(k): {m: float(np.mean([r["pass@k"][str(k)][m] for r in group.values()]))
                                         for m in MODES} for k in ks}
    return categories, overall


# ------------------------------------------------------------------------------------------------------- the run
def evaluate(model_dir: str, dataset: str | None = None, split: str = "eval", max_queries: int | None = None,
             batch_size: int = 32, max_completion_length: int = model_lib.MAX_COMPLETION_LENGTH,
             gen_mode: str = "generate", device: str | None = None, min_pixels: int = 784,
             max_pixels: int = 2_359_296, blank_image: bool = True, *, eval_sets: str | None = None,
             sets: list[str] | None = None, pass_k: list[int] | None = None, temperature: float = 1.0, seed: int = 0,
             cache_dir: str | None = "default", backend: str = "transformers", progress: bool = True) -> dict:
    """The report (see the module docstring). `cache_dir` "default": default_cache(model_dir); None or "": none."""
    t0 = time.time()
    if (eval_sets is None) == (dataset is None):
        raise ValueError("give either an eval-set directory (--eval-sets) or a dataset version (--dataset)")
    ks = sorted(set(pass_k or []))
    if ks and (gen_mode != "generate" or ks[0] < 1):
        raise ValueError("pass@k needs generation (--gen-mode generate) and k >= 1")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if eval_sets is not None:
        ev = data.open_eval_sets(eval_sets)
    else:
        ev = data.eval_sets_of_version(data.open_version(dataset), split)
    specs = {s["name"]: s for s in ev.sets}
    chosen = sorted(sets) if sets else sorted(specs)
    unknown = sorted(set(chosen) - set(specs))
    if unknown:
        raise ValueError(f"no eval set {unknown} in {eval_sets or dataset} (has {sorted(specs)})")

    hf, tokenizer = model_lib.load(model_dir)
    ids = model_lib.add_embedding_tokens(hf, tokenizer)
    net = model_lib.EmbeddingModel(hf, ids["<disc_emb>"], ids["<gen_emb>"]).to(dev).eval()
    renderer = data.Renderer(model_dir, tokenizer, media_root=ev.media_root, min_pixels=min_pixels,
                             max_pixels=max_pixels, blank_image=blank_image)
    ckpt = checkpoint_id(model_dir)
    settings = {"format_version": FORMAT_VERSION, "max_completion_length": max_completion_length,
                "min_pixels": min_pixels, "max_pixels": max_pixels, "blank_image": blank_image,
                "max_length": renderer.max_length, "backend": backend,
                "precision": "bf16-autocast" if dev.type == "cuda" else "fp32"}
    cache = EmbedCache(default_cache(model_dir) if cache_dir == "default" else cache_dir or None, ckpt, settings)
    gen_backend = generation.backend(backend, net, tokenizer, model_dir=model_dir, renderer=renderer)
    enc = Encoder(net, tokenizer, renderer, ev.sides, cache, batch_size, max_completion_length, gen_backend, dev,
                  progress)

    queries = {name: ev.queries.get(name, [])[:max_queries] if max_queries else ev.queries.get(name, [])
               for name in chosen}
    needed: set[str] = set()
    for name, rows in queries.items():
        for _, side, lid in rows:
            needed.add(side)
            needed.update(ev.lists[(name, lid)])
    needed = sorted(needed)
    if gen_mode == "teacher":
        greedy = enc.teacher_forced(needed)
    else:
        greedy = enc.generated(needed, generation.greedy(max_completion_length), "greedy")
    samples = None
    if ks:
        sampling = generation.Sampling(k=max(ks), temperature=temperature,
                                       max_completion_length=max_completion_length, seed=seed)
        query_sides = sorted({s for rows in queries.values() for _, s, _ in rows})
        samples = enc.generated(query_sides, sampling, f"sample-t{temperature:g}-s{seed}")

    results = {name: score_set(name, specs[name], ev, greedy, samples, ks, max_queries) for name in chosen}
    categories, overall = summarise(results, ks)
    texts = [greedy[(s, -1)].text for s in needed]
    report = {
        "model": str(model_dir), "checkpoint_id": ckpt, "eval_kind": ev.kind, "eval_id": ev.eval_id,
        "eval_path": str(eval_sets or dataset), "split": split if dataset else None, "gen_mode": gen_mode,
        "max_completion_length": max_completion_length, "blank_image": blank_image,
        "settings": {**settings, "gen_mode": gen_mode, "pass_k": ks, "samples": max(ks) if ks else 0,
                     "temperature": temperature if ks else None, "seed": seed if ks else None,
                     "max_queries": max_queries},
        "truncated_sides": enc.truncated, "datasets": results, "categories": categories, "mean": overall,
        "cache": {"dir": None if cache.dir is None else str(cache.dir), "hits": cache.hits, "computed": cache.computed},
        "seconds": time.time() - t0,
    }
    if gen_mode == "generate":
        report["gen_emb_share"] = float(np.mean([greedy[(s, -1)].gen_found for s in needed]))
        report["format_ok_share"] = float(np.mean([FORMAT_REGEX.search(t) is not None for t in texts]))
        report["examples"] = texts[:3]
    return report


def _ks(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--pass-k takes k values like 1,2,4,8, not {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--eval-sets", default=None, help="an eval-set directory (umedata eval-sets export)")
    ap.add_argument("--dataset", default=None, help="or a dataset version directory: its --split as eval sets")
    ap.add_argument("--split", default="eval")
    ap.add_argument("--set", dest="sets", action="append", default=None, help="only this eval set (repeat)")
    ap.add_argument("--max-queries", type=int, default=None, help="per set (lists stay whole)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-completion-length", type=int, default=model_lib.MAX_COMPLETION_LENGTH,
                    help="cap on generated tokens per side (the reference's RL cap, 2048; lower it only for quick "
                         "looks: a cap below the reasoning's length cuts <gen_emb> off)")
    ap.add_argument("--gen-mode", default="generate", choices=["generate", "teacher"])
    ap.add_argument("--pass-k", type=_ks, default=[], help="e.g. 1,2,4,8: also pass@k from max(k) samples per query")
    ap.add_argument("--temperature", type=float, default=1.0, help="pass@k sampling temperature")
    ap.add_argument("--seed", type=int, default=0, help="pass@k sampling seed")
    ap.add_argument("--cache-dir", default="default",
                    help="embedding cache ('' = none; default: $UMEDATA_EVAL_CACHE, else eval-cache/ beside a local "
                         "model folder, else ~/.cache/umedata/eval-embeddings)")
    ap.add_argument("--backend", default="transformers", choices=generation.BACKENDS)
    ap.add_argument("--min-pixels", type=int, default=784)
    ap.add_argument("--max-pixels", type=int, default=2_359_296)
    ap.add_argument("--blank-image", action=argparse.BooleanOptionalAction, default=True,
                    help="a 28x28 white image on text-only sides, as in training (the reference's default)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--out", default=None, help="write the report as JSON here")
    return ap


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    report = evaluate(args.model, args.dataset, args.split, args.max_queries, args.batch_size,
                      args.max_completion_length, args.gen_mode, args.device, args.min_pixels, args.max_pixels,
                      args.blank_image, eval_sets=args.eval_sets, sets=args.sets, pass_k=args.pass_k,
                      temperature=args.temperature, seed=args.seed, cache_dir=args.cache_dir, backend=args.backend,
                      progress=args.progress)
    text = json.dumps(report, indent=2)
    if args.out:
        tmp = Path(f"{args.out}.tmp")
        tmp.write_text(text)
        os.replace(tmp, args.out)  # a reader (the flow) never sees half a report
        # the report is in the file: the log gets the headline figures, one line per category
        for name, v in {**report["categories"], "mean": report["mean"]}.items():
            print(f"{name}: " + ", ".join(f"{k} {v[k]:.4f}" for k in ("chance", "disc", "gen", "oracle")))
        print(f"report: {args.out} ({report['seconds']:.0f} s)")
    else:
        print(text)
    return report


if __name__ == "__main__":
    main()
