"""Padding-free (packed) batches give the same losses and gradients as padded ones."""

from __future__ import annotations

import pytest
import torch
from training_fixtures import tiny_dir, version_dir  # noqa: F401  (pytest fixtures)

from training import data, sft
from training import model as M
from umedata.format import DISC_EMB, GEN_EMB

torch.set_num_threads(1)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_packed_and_padded_losses_are_equal(family, tiny_dir, version_dir, tmp_path):
    model_dir = str(tiny_dir)
    if family == "qwen2_5_vl":
        from training import tiny

        model_dir = str(tiny.build(tmp_path / "tiny25", family="qwen2_5_vl"))
    hf, tok = M.load(model_dir)
    ids = M.add_embedding_tokens(hf, tok)
    net = M.EmbeddingModel(hf, ids[DISC_EMB], ids[GEN_EMB])
    version = data.open_version(version_dir)
    rows = version.read_split("train").to_pylist()
    picks = []
    for m in ("image", "video", "text"):
        picks += [r for r in rows if r["modality"] == m][:2]
    batch = data.render_pairs(picks, data.Renderer(model_dir, tok, media_root=version.media_root()), hard_negatives=1)
    assert int(batch["attention_mask"].sum()) < batch["attention_mask"].numel()  # there is padding to drop

    results = {}
    for packed in (False, True):
        flags = ["--hard-negatives", "1"] + (["--packed"] if packed else [])
        args = sft.parse_args(["--dataset", "x", "--model", "x", *flags])
        net.zero_grad()
        loss, parts = sft.compute_loss(net, batch, args)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
        results[packed] = (loss.detach(), parts, grads)
    (loss_a, parts_a, grads_a), (loss_b, parts_b, grads_b) = results[False], results[True]
    torch.testing.assert_close(loss_b, loss_a, atol=1e-5, rtol=1e-5)
    for key in ("ce_q", "ce_t", "nce_gen", "nce_disc"):
        assert parts_b[key] == pytest.approx(parts_a[key], rel=1e-4, abs=1e-5), key
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], atol=1e-4, rtol=1e-3, msg=name)
