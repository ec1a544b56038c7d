"""Kill a training process after a checkpoint, resume it, and get the uninterrupted run's loss curve."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from training_fixtures import REPO, python, subprocess_env, tiny_dir, version_dir  # noqa: F401  (pytest fixtures)

STEPS, EVERY = 40, 4


def _cmd(version_dir, tiny_dir, out, *extra):
    return [python(), "-m", "training.sft", "--dataset", str(version_dir), "--model", str(tiny_dir), "--out", str(out),
            "--steps", str(STEPS), "--micro-batch", "4", "--accum", "2", "--lr", "1e-3", "--seed", "7",
            "--save-every", str(EVERY), "--no-progress", "--no-export", "--no-tensorboard", "--threads", "1", *extra]


def _curve(out):
    rows = []
    for line in (out / "metrics.jsonl").read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # the kill may cut the last line short
            pass
    return rows


@pytest.mark.slow
def test_kill_and_resume_reproduces_the_loss_curve(tiny_dir, version_dir, tmp_path):
    env = subprocess_env()
    full = tmp_path / "full"
    subprocess.run(_cmd(version_dir, tiny_dir, full), env=env, cwd=REPO, check=True, capture_output=True)

    cut = tmp_path / "cut"
    proc = subprocess.Popen(_cmd(version_dir, tiny_dir, cut), env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list((cut / "checkpoints").glob("step_*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(r["step"] for r in _curve(cut))
    assert killed_at < STEPS

    resumed = subprocess.run(_cmd(version_dir, tiny_dir, cut, "--resume"), env=env, cwd=REPO, capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = _curve(full), _curve(cut)
    assert [r["step"] for r in b] == list(range(1, STEPS + 1))  # the steps after the checkpoint were redone once
    for x, y in zip(a, b):
        for key in ("loss", "ce_q", "ce_t", "nce_gen", "nce_disc", "lr", "grad_norm"):
            assert y[key] == pytest.approx(x[key], rel=1e-6, abs=1e-9), (x["step"], key)
    state = json.loads(sorted((cut / "checkpoints").glob("step_*"))[-1].joinpath("trainer.json").read_text())
    manifest = json.loads((version_dir / "manifest.json").read_text())
    assert state["dataset_version_id"] == manifest["version_id"]
    assert state["base_model"] == str(tiny_dir)
    assert state["position"] == state["step"] * 2
