"""Two CPU processes (gloo) compute the same GRPO gradients as one process on the same generation batch.

This checks the distributed contract of the RL step at once: the scoring pool gathered across ranks (each rank's
rewards depend on the other's embeddings), group advantages, the loss normalised by global per-role counts, DDP's
gradient mean (FSDP2's reduce-scatter), the reference pass, the micro-batch plan every rank runs in step (with
zero-std filtering a rank may have fewer rows in the loss), and the dummy vision pass (rank 1 holds only text-only
pairs). Completions are fixed per (side, sample) so both layouts score the very same rollouts.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.multiprocessing as mp
from training_fixtures import free_port, join_gloo, mixed_rows, tiny_dir, trainable_grads, version_dir  # noqa: F401

from training import data, dist, generation, grpo
from umedata.format import IM_END, assistant_text

G = 3


class FixedCompletions:
    """A generation backend whose sample j of a side is fixed: 0 the side's annotation in the format, 1 the same
    without </think> (format fails), 2 its first half, cut as if by the length cap. Sides without media get
    sample 0 every time, so their groups have zero reward variance (all of rank 1's, in the two-process run)."""

    name = "fixed"

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def complete(self, prompts, sampling):
        out = []
        for p in prompts:
            full = assistant_text(p.side.reasoning, p.side.summary)
            variants = [full + IM_END, full.replace("</think>", " ") + IM_END, full]
            varied = bool(p.side.images or p.side.video)
            for j in range(sampling.k):
                ids = self.tokenizer(variants[j % 3 if varied else 0], add_special_tokens=False)["input_ids"]
                out.append(generation.Completion(ids[: len(ids) // 2], "length") if varied and j % 3 == 2
                           else generation.Completion(ids, "stop"))
        return out


def _grads(model_dir, version_dir, rows, flags: list[str]):
    """Gradients (name -> full tensor) of one GRPO update through the trainer's own functions."""
    args = grpo.parse_args(["--dataset", str(version_dir), "--model", str(model_dir), "--group", str(G),
                            "--no-blank-image", *flags])
    env = dist.Env(rank=dist.rank(), world=dist.world())
    net, ref, tokenizer = grpo.build_models(args, env)
    version = data.open_version(version_dir)
    renderer = data.Renderer(model_dir, tokenizer, media_root=version.media_root(), blank_image=False)
    sampling = generation.Sampling(k=G, seed=0, max_completion_length=64)
    ro = grpo.rollout(FixedCompletions(tokenizer), renderer, rows, G, sampling, env.rank)
    sc = grpo.score(net, ref, ro, args, env, renderer.pad_id, contextlib.nullcontext())
    grpo.policy_backward(net, ro, sc, args, env, renderer.pad_id, contextlib.nullcontext())
    return trainable_grads(net), sc


def _worker(rank: int, world: int, port: int, model_dir: str, version_dir: str, out: str, flags: list[str]):
    join_gloo(rank, world, port)
    rows = mixed_rows(version_dir)  # rank 0 gets the image pairs, rank 1 the text-only ones
    per = len(rows) // world
    grads, sc = _grads(model_dir, version_dir, rows[rank * per : (rank + 1) * per], flags)
    if rank == 0:
        torch.save({"grads": grads, "reward": sc.pool.reward, "adv": sc.adv_all}, out)
    dist.cleanup()  # barrier, then leave: no rank tears down while its peer still talks


@pytest.mark.parametrize("flags", [["--micro-batch", "0"], ["--micro-batch", "4", "--filter-zero-std", "--fsdp"]],
                         ids=["ddp-fused", "fsdp-microbatched-filtered"])
def test_two_processes_match_one(flags, tiny_dir, version_dir, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "grads.pt"
    mp.spawn(_worker, args=(2, free_port(), str(tiny_dir), str(version_dir), str(out), flags), nprocs=2,
             join=True)
    two = torch.load(out)
    one, sc = _grads(str(tiny_dir), str(version_dir), mixed_rows(version_dir), [f for f in flags if f != "--fsdp"])
    # The pool is gathered rank-major ([rank 0: queries, targets][rank 1: ...]), one process holds [queries,
    # targets]: the same rollouts, so the same multiset of rewards and advantages.
    assert sorted(two["reward"].tolist()) == pytest.approx(sorted(sc.pool.reward.tolist()), rel=1e-5, abs=1e-6)
    assert sc.adv_all.abs().sum() > 0  # the fixed completions differ in format: there is a learning signal
    assert sc.zero_all.float().mean() == pytest.approx(6 / 8)  # only the two image queries' groups vary
    assert two["grads"].keys() == one.keys()
    merger = [n for n in one if ".merger." in n]
    assert merger and all(one[n].abs().sum() > 0 for n in merger)
    for name in one:
        torch.testing.assert_close(two["grads"][name], one[name], atol=2e-6, rtol=1e-3, msg=name)


def test_fused_and_micro_batched_updates_give_the_same_gradients(tiny_dir, version_dir):
    torch.set_num_threads(1)
    rows = mixed_rows(version_dir)
    fused, _ = _grads(str(tiny_dir), str(version_dir), rows, ["--micro-batch", "0"])
    chunked, _ = _grads(str(tiny_dir), str(version_dir), rows, ["--micro-batch", "5"])
    for name in fused:
        torch.testing.assert_close(chunked[name], fused[name], atol=2e-6, rtol=1e-3, msg=name)
