"""Two CPU processes (gloo) compute the same gradients as one process on the same global batch.

This checks the whole distributed contract at once: negatives gathered across ranks with gradient, CE normalised
by the global token count, DDP's gradient mean, and the dummy vision pass (rank 1 holds only text-only pairs,
so without it the vision merger would have no gradient there and DDP/FSDP would stall or fail).
"""

from __future__ import annotations

import pytest
import torch
import torch.multiprocessing as mp
from training_fixtures import free_port, join_gloo, mixed_rows, tiny_dir, trainable_grads, version_dir  # noqa: F401

from training import data, dist, setup, sft
from training import model as M
from umedata.format import DISC_EMB, GEN_EMB


def _grads(model_dir, version_dir, rows, wrap_mode: str | None):
    """Loss and gradients (name -> full tensor) of one micro-batch through the trainer's own code."""
    hf, tok = M.load(model_dir)
    ids = M.add_embedding_tokens(hf, tok)
    args = sft.parse_args(["--dataset", "x", "--model", "x"] + (["--fsdp"] if wrap_mode == "fsdp" else []))
    hf = setup.set_trainable(hf, args, list(ids.values()))
    net = M.EmbeddingModel(hf, ids[DISC_EMB], ids[GEN_EMB])
    if wrap_mode:
        net = setup.wrap(net, dist.Env(rank=dist.rank(), world=dist.world()), args)
    version = data.open_version(version_dir)
    # No blank image: rank 1's text-only pairs must carry no pixels at all, so the dummy vision pass is exercised
    # (the pass matters with --no-blank-image, and for any batch without media).
    renderer = data.Renderer(model_dir, tok, media_root=version.media_root(), blank_image=False)
    batch = data.render_pairs(rows, renderer)
    loss, _ = sft.compute_loss(net, batch, args)
    loss.backward()
    return trainable_grads(net)


def _worker(rank: int, world: int, port: int, model_dir: str, version_dir: str, out: str, mode: str):
    join_gloo(rank, world, port)
    rows = mixed_rows(version_dir)  # rank 0 gets the image pairs, rank 1 the text-only ones
    per = len(rows) // world
    grads = _grads(model_dir, version_dir, rows[rank * per : (rank + 1) * per], mode)
    if rank == 0:
        torch.save(grads, out)
    dist.cleanup()  # barrier, then leave: no rank tears down while its peer still talks


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_match_one(mode, tiny_dir, version_dir, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "grads.pt"
    mp.spawn(_worker, args=(2, free_port(), str(tiny_dir), str(version_dir), str(out), mode), nprocs=2, join=True)
    two = torch.load(out)
    one = _grads(str(tiny_dir), str(version_dir), mixed_rows(version_dir), None)
    assert two.keys() == one.keys()
    merger = [n for n in one if ".merger." in n]
    assert merger and all(one[n].abs().sum() > 0 for n in merger)  # the vision merger is trained and has signal
    for name in one:
        torch.testing.assert_close(two[name], one[name], atol=2e-5, rtol=1e-3, msg=name)
