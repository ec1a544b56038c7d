"""Launching a trainer (or any GPU job) as its own process: here, under torchrun, as a Slurm job, or as a Kubernetes
Job. The same command line in every case; the launcher only decides where it runs and how it is watched.

    job = launch(["python", "-m", "training.sft", "--dataset", DIR, ...], Launch(kind="slurm", nodes=2, gpus=8))
    for line in job.lines(): print(line)      # the job's output as it is written
    job.wait()                                # raises JobFailed with the last lines when it fails

- local: `<python> -m <module> ...` (one process).
- torchrun: `<python> -m torch.distributed.run --nproc-per-node N [--nnodes ...] -m <module> ...` on this machine.
- slurm: `sbatch` a script that runs `srun <python> -m torch.distributed.run --nnodes $SLURM_NNODES
  --rdzv-backend c10d --rdzv-endpoint $head:29500 ...` (one torchrun per node, the first node is the rendezvous),
  then follow its output file and poll `sacct` (falling back to `squeue`) until the job ends.
- kubernetes: `kubectl apply -f -` a batch/v1 Job running the same command in `image`, then follow
  `kubectl logs -f job/NAME` and poll the Job's status.
Multi-node scheduling is the cluster's job; this module only submits and watches, so a flow can record the run.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("local", "torchrun", "slurm", "kubernetes")


class JobFailed(RuntimeError):
    """The job ended without success; the message ends with its last output lines."""


@dataclass
class Launch:
    """Where and how a job runs. `python` is the interpreter of the environment that has the trainer (a GPU env may
    differ from the data env); `env` adds environment variables (never secrets: they would land in job specs)."""

    kind: str = "local"
    python: str = "python"
    nproc: int = 1  # processes (GPUs) per node
    nodes: int = 1
    workdir: str = "."
    env: dict[str, str] = field(default_factory=dict)
    # slurm
    partition: str | None = None
    time_limit: str | None = None  # e.g. "24:00:00"
    sbatch_args: list[str] = field(default_factory=list)
    # kubernetes
    image: str | None = None
    namespace: str | None = None
    gpu_resource: str = "nvidia.com/gpu"
    poll_s: float = 5.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"launcher kind must be one of {KINDS}, not {self.kind!r}")
        if self.kind == "kubernetes" and not self.image:
            raise ValueError("a kubernetes launch needs an image")


def command(module: str, args: Sequence[str], spec: Launch, rendezvous: str | None = None) -> list[str]:
    """The command line that runs `python -m module args` under the spec (without the scheduler around it)."""
    if spec.kind == "local" and spec.nproc <= 1 and spec.nodes <= 1:
        return [spec.python, "-m", module, *args]
    head = [spec.python, "-m", "torch.distributed.run", f"--nproc-per-node={spec.nproc}"]
    if spec.nodes > 1 or rendezvous:
        head += [f"--nnodes={spec.nodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={rendezvous or 'localhost:29500'}"]
    else:
        head.append("--standalone")
    return [*head, "-m", module, *args]


class Job:
    """A submitted job: its output lines as they come, and its end."""

    name: str

    def lines(self) -> Iterator[str]:
        raise NotImplementedError

    def wait(self) -> None:
        raise NotImplementedError


class LocalJob(Job):
    def __init__(self, module: str, cmd: list[str], spec: Launch):
        import os

        self.name, self.cmd = module, cmd
        self.tail: deque[str] = deque(maxlen=30)
        self.proc = subprocess.Popen(cmd, cwd=spec.workdir, env={**os.environ, **spec.env}, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)

    def lines(self) -> Iterator[str]:
        for line in self.proc.stdout:
            line = line.rstrip()
            self.tail.append(line)
            yield line

    def wait(self) -> None:
        for _ in self.lines():  # drain what was not read
            pass
        if self.proc.wait():
            raise JobFailed(f"{shlex.join(self.cmd[:5])} exited with {self.proc.returncode}:\n" + "\n".join(self.tail))


class SlurmJob(Job):
    """An sbatch job followed through its output file and sacct/squeue."""

    END_OK = {"COMPLETED"}
    END_BAD = {"FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}

    def __init__(self, module: str, args: Sequence[str], spec: Launch, out_dir: Path):
        self.spec = spec
        self.name = f"umedata-{module.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:6]}"
        out_dir.mkdir(parents=True, exist_ok=True)
        self.log = out_dir / f"{self.name}.out"
        inner = command(module, args, spec, rendezvous="$HEAD:29500")
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in spec.env.items())
        script = out_dir / f"{self.name}.sbatch"
        script.write_text(
            "#!/bin/bash\n"
            f"#SBATCH --job-name={self.name}\n#SBATCH --nodes={spec.nodes}\n#SBATCH --ntasks-per-node=1\n"
            f"#SBATCH --gpus-per-node={spec.nproc}\n#SBATCH --output={self.log}\n"
            + (f"#SBATCH --partition={spec.partition}\n" if spec.partition else "")
            + (f"#SBATCH --time={spec.time_limit}\n" if spec.time_limit else "")
            + "set -euo pipefail\n"
            + f"cd {shlex.quote(str(Path(spec.workdir).resolve()))}\n" + exports
            # the first node of the allocation is torchrun's rendezvous
            + 'HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)\n'
            + "srun " + " ".join(a if a.startswith("--rdzv-endpoint") else shlex.quote(a) for a in inner) + "\n"
        )
        out = subprocess.run(["sbatch", "--parsable", *spec.sbatch_args, str(script)], capture_output=True,
                             text=True, check=False)
        if out.returncode:
            raise JobFailed(f"sbatch refused the job: {out.stderr.strip() or out.stdout.strip()}")
        self.job_id = out.stdout.strip().split(";")[0]
        self.tail: deque[str] = deque(maxlen=30)
        self._pos = 0

    def state(self) -> str:
        out = subprocess.run(["sacct", "-j", self.job_id, "-X", "-n", "-P", "-o", "State"], capture_output=True,
                             text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.split()[0].rstrip("+")
        out = subprocess.run(["squeue", "-j", self.job_id, "-h", "-o", "%T"], capture_output=True, text=True,
                             check=False)
        return out.stdout.strip() or "UNKNOWN"

    def _new_lines(self) -> list[str]:
        if not self.log.exists():
            return []
        with open(self.log, encoding="utf-8", errors="replace") as f:
            f.seek(self._pos)
            text = f.read()
            self._pos = f.tell()
        lines = text.splitlines()
        self.tail.extend(lines)
        return lines

    def lines(self) -> Iterator[str]:
        while True:
            yield from self._new_lines()
            st = self.state()
            if st in self.END_OK | self.END_BAD:
                yield from self._new_lines()
                self._final = st
                return
            time.sleep(self.spec.poll_s)

    def wait(self) -> None:
        if not hasattr(self, "_final"):
            for _ in self.lines():
                pass
        if self._final not in self.END_OK:
            raise JobFailed(f"slurm job {self.job_id} ({self.name}) ended {self._final}:\n" + "\n".join(self.tail))


class KubernetesJob(Job):
    """A batch/v1 Job followed through `kubectl logs -f` and its status."""

    def __init__(self, module: str, args: Sequence[str], spec: Launch):
        self.spec = spec
        self.name = f"umedata-{module.rsplit('.', 1)[-1].replace('_', '-')}-{uuid.uuid4().hex[:6]}"
        ns = ["-n", spec.namespace] if spec.namespace else []
        self.ns = ns
        container = {
            "name": "trainer", "image": spec.image, "command": command(module, args, spec), "workingDir": spec.workdir,
            "env": [{"name": k, "value": v} for k, v in spec.env.items()],
            "resources": {"limits": {spec.gpu_resource: spec.nproc}} if spec.nproc else {},
        }
        manifest = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": self.name},
                    "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                                                                       "containers": [container]}}}}
        out = subprocess.run(["kubectl", *ns, "apply", "-f", "-"], input=json.dumps(manifest), capture_output=True,
                             text=True, check=False)
        if out.returncode:
            raise JobFailed(f"kubectl refused the job: {out.stderr.strip()}")
        self.tail: deque[str] = deque(maxlen=30)

    def status(self) -> str:
        out = subprocess.run(["kubectl", *self.ns, "get", "job", self.name, "-o", "json"], capture_output=True,
                             text=True, check=False)
        st = json.loads(out.stdout or "{}").get("status", {}) if out.returncode == 0 else {}
        return "succeeded" if st.get("succeeded") else "failed" if st.get("failed") else "running"

    def lines(self) -> Iterator[str]:
        while self.status() == "running":
            logs = subprocess.Popen(["kubectl", *self.ns, "logs", "-f", f"job/{self.name}"], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            for line in logs.stdout:
                self.tail.append(line.rstrip())
                yield line.rstrip()
            logs.wait()
            time.sleep(self.spec.poll_s)  # the pod may not have started yet: follow again

    def wait(self) -> None:
        for _ in self.lines():
            pass
        st = self.status()
        if st != "succeeded":
            raise JobFailed(f"kubernetes job {self.name} {st}:\n" + "\n".join(self.tail))


def launch(module: str, args: Sequence[str], spec: Launch, out_dir: str | Path = ".") -> Job:
    """Submit `python -m module args` the way `spec` says; returns the running job."""
    if spec.kind in ("local", "torchrun"):
        return LocalJob(module, command(module, args, spec), spec)
    if spec.kind == "slurm":
        return SlurmJob(module, args, spec, Path(out_dir))
    return KubernetesJob(module, args, spec)
