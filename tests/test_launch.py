"""Launching a job here, under torchrun, or through Slurm (a fake sbatch/srun/sacct on PATH that runs the job
script on this machine): the same command, its output followed, its failure raised with its last lines."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from umedata.launch import JobFailed, Launch, command, launch

REPO = Path(__file__).resolve().parent.parent

FAKES = {
    # sbatch --parsable [args] SCRIPT: run the script in the background, its exit code into a state file
    "sbatch": """#!/bin/bash
        script="${@: -1}"; id=$RANDOM$RANDOM; dir="$FAKE_SLURM"
        log=$(grep -m1 '^#SBATCH --output=' "$script" | cut -d= -f2-)
        echo "$*" > "$dir/$id.args"
        ( SLURM_JOB_ID=$id SLURM_JOB_NODELIST=localhost SLURM_NNODES=1 bash "$script" > "$log" 2>&1; echo $? > "$dir/$id.rc" ) &
        echo "$id"
    """,
    "srun": """#!/bin/bash
        exec "$@"
    """,
    "scontrol": """#!/bin/bash
        echo localhost
    """,
    "sacct": """#!/bin/bash
        id=$2; dir="$FAKE_SLURM"
        if [ -f "$dir/$id.rc" ]; then [ "$(cat "$dir/$id.rc")" = 0 ] && echo COMPLETED || echo FAILED
        else echo RUNNING; fi
    """,
}


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    bin_dir, state = tmp_path / "bin", tmp_path / "slurm"
    bin_dir.mkdir()
    state.mkdir()
    for name, body in FAKES.items():
        p = bin_dir / name
        p.write_text(textwrap.dedent(body))
        p.chmod(p.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(state))
    return state


def test_commands_for_each_launcher():
    assert command("training.sft", ["--x", "1"], Launch(python="py")) == ["py", "-m", "training.sft", "--x", "1"]
    tr = command("training.sft", [], Launch(kind="torchrun", python="py", nproc=4))
    assert tr[:4] == ["py", "-m", "torch.distributed.run", "--nproc-per-node=4"] and "--standalone" in tr
    multi = command("training.grpo", [], Launch(kind="slurm", python="py", nproc=8, nodes=2), rendezvous="h:29500")
    assert "--nnodes=2" in multi and "--rdzv-endpoint=h:29500" in multi and multi[-1] == "training.grpo"
    with pytest.raises(ValueError, match="image"):
        Launch(kind="kubernetes")


def test_local_job_streams_and_raises_with_its_last_lines(tmp_path):
    job = launch("training.tiny", ["--out", str(tmp_path / "tiny")], Launch(python=sys.executable, workdir=str(REPO)))
    job.wait()
    assert (tmp_path / "tiny" / "config.json").exists()
    bad = launch("training.sft", ["--dataset", str(tmp_path / "nope"), "--model", str(tmp_path / "tiny")],
                 Launch(python=sys.executable, workdir=str(REPO)))
    with pytest.raises(JobFailed, match="exited with") as err:
        bad.wait()
    assert "nope" in str(err.value)  # the trainer's own error is in the message


@pytest.mark.slow
def test_slurm_job_is_submitted_followed_and_its_failure_raised(fake_slurm, tmp_path):
    spec = Launch(kind="slurm", python=sys.executable, workdir=str(REPO), nproc=1, nodes=1, partition="gpu",
                  time_limit="01:00:00", poll_s=0.2, env={"UMEDATA_TEST_MARK": "yes"})
    job = launch("training.tiny", ["--out", str(tmp_path / "tiny")], spec, out_dir=tmp_path / "jobs")
    lines = list(job.lines())
    job.wait()
    assert (tmp_path / "tiny" / "config.json").exists(), lines
    script = next((tmp_path / "jobs").glob("*.sbatch")).read_text()
    assert "#SBATCH --partition=gpu" in script and "#SBATCH --gpus-per-node=1" in script
    assert "torch.distributed.run" in script and "--rdzv-endpoint=$HEAD:29500" in script
    assert "export UMEDATA_TEST_MARK=yes" in script
    bad = launch("training.sft", ["--dataset", str(tmp_path / "nope"), "--model", str(tmp_path / "tiny")], spec,
                 out_dir=tmp_path / "jobs")
    with pytest.raises(JobFailed, match="ended FAILED"):
        bad.wait()
