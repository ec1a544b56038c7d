"""Learning signal: a short CPU SFT run lifts eval Hit@1 of both embeddings to at least 3x chance.

The version comes from training_fixtures (synthetic shapes); any version directory with an eval split of >= 200
queries works the same way, since sft/evaluate only take a path.
"""

from __future__ import annotations

import json
import time

import pytest
import torch
from training_fixtures import build_version

from training import evaluate, sft, tiny


@pytest.fixture(scope="module")
def learning_version(tmp_path_factory):
    return build_version(tmp_path_factory.mktemp("learn") / "shapes", n_train=480, n_eval=240)


@pytest.mark.slow
def test_short_cpu_run_beats_three_times_chance(learning_version, tmp_path, record_property):
    torch.set_num_threads(1)
    model = tiny.build(tmp_path / "tiny")
    run = tmp_path / "run"
    # 48 tokens cover the fixture's completions (<= 33); the recipe's 2048 would only spend CPU time on an
    # untrained model that never stops
    kw = dict(split="eval", batch_size=48, max_completion_length=48)
    before = evaluate.evaluate(str(model), str(learning_version), **kw)

    t0 = time.time()
    sft.main(["--dataset", str(learning_version), "--model", str(model), "--out", str(run), "--steps", "400",
              "--micro-batch", "16", "--lr", "2e-3", "--warmup", "0.05", "--no-progress", "--threads", "1"])
    train_s = time.time() - t0
    after = evaluate.evaluate(str(run / "model"), str(learning_version), **kw)

    figures = {}
    for name, report in (("before", before), ("after", after)):
        ds = report["datasets"]["ShapesI2T"]
        figures[name] = {k: ds[k] for k in ("queries", "candidates", "chance", "disc", "gen", "oracle")}
        figures[name]["gen_emb_share"] = report["gen_emb_share"]
    figures["train_seconds"] = train_s
    (run / "learning_signal.json").write_text(json.dumps(figures, indent=2))
    record_property("learning_signal", json.dumps(figures))
    print("learning signal:", json.dumps(figures))

    ds = after["datasets"]["ShapesI2T"]
    assert ds["queries"] >= 200
    assert ds["disc"] >= 3 * ds["chance"], figures
    assert ds["gen"] >= 3 * ds["chance"], figures
