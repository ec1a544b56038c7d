"""Kill a training process after a checkpoint, resume it, and get the uninterrupted run's loss curve."""

from __future__ import annotations

import json

import pytest
from training_fixtures import killed_and_resumed, python, tiny_dir, version_dir  # noqa: F401  (pytest fixtures)

STEPS, EVERY = 40, 4


def _cmd(version_dir, tiny_dir, out, *extra):
    return [python(), "-m", "training.sft", "--dataset", str(version_dir), "--model", str(tiny_dir), "--out", str(out),
            "--steps", str(STEPS), "--micro-batch", "4", "--accum", "2", "--lr", "1e-3", "--seed", "7",
            "--save-every", str(EVERY), "--no-progress", "--no-export", "--no-tensorboard", "--threads", "1", *extra]


@pytest.mark.slow
def test_kill_and_resume_reproduces_the_loss_curve(tiny_dir, version_dir, tmp_path):
    # killed after its first checkpoint, resumed: every step once, the uninterrupted run's values
    a, b, cut = killed_and_resumed(lambda out: _cmd(version_dir, tiny_dir, out), tmp_path, STEPS)
    for x, y in zip(a, b):
        for key in ("loss", "ce_q", "ce_t", "nce_gen", "nce_disc", "lr", "grad_norm"):
            assert y[key] == pytest.approx(x[key], rel=1e-6, abs=1e-9), (x["step"], key)
    state = json.loads(sorted((cut / "checkpoints").glob("step_*"))[-1].joinpath("trainer.json").read_text())
    manifest = json.loads((version_dir / "manifest.json").read_text())
    assert state["dataset_version_id"] == manifest["version_id"]
    assert state["base_model"] == str(tiny_dir)
    assert state["position"] == state["step"] * 2
