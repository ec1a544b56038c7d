"""A trainer's record of its run in --out: run.json, metrics.jsonl, TensorBoard events and the progress bar.

    log = RunLog(out, "sft", meta, step, total, env.main, tensorboard=True, progress=True)
    log.step(rec, loss=f"{rec['loss']:.3f}")     # one metrics line per step; the bar shows the named values
    log.append("samples.jsonl", rows)            # any other per-step jsonl file
    log.close()

Only rank 0 writes; on other ranks every method does nothing. A resumed run (step > 0) first cuts metrics.jsonl
and the other files it names back to the lines of steps up to its checkpoint (a line a kill left half-written
goes too), so the steps it redoes appear once; TensorBoard drops them through purge_step. TensorBoard scalars are
named "<name>/<key>" (sft/loss, grpo/reward).
"""

from __future__ import annotations

import json
from pathlib import Path


def _step_of(line: str) -> int | None:
    """The step of a jsonl line; None for a line a killed run left half-written."""
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return None


class RunLog:
    def __init__(self, out: Path, name: str, meta: dict, step: int, total: int, main: bool, tensorboard: bool = True,
                 progress: bool = True, also: tuple[str, ...] = ()):
        self.out, self.name, self.main = Path(out), name, main
        self.metrics = self.out / "metrics.jsonl"
        self.writer = self.bar = None
        if not main:
            return
        for path in (self.metrics, *(self.out / f for f in also)):  # a resumed run rewrites the steps after its checkpoint
            if path.exists():
                path.write_text("".join(line + "\n" for line in path.read_text().splitlines()
                                        if _step_of(line) is not None and _step_of(line) <= step))
        (self.out / "run.json").write_text(json.dumps(meta, indent=2, default=str))
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out / "tb"), purge_step=step + 1)
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=step, desc=name, dynamic_ncols=True)

    def step(self, rec: dict, **shown: str) -> None:
        """One line of metrics.jsonl (rec has "step"), its TensorBoard scalars, the bar advanced showing `shown`."""
        if not self.main:
            return
        with self.metrics.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        if self.writer:
            for k, v in rec.items():
                if k != "step":
                    self.writer.add_scalar(f"{self.name}/{k}", v, rec["step"])
        if self.bar:
            self.bar.update(1)
            self.bar.set_postfix(**shown)

    def append(self, filename: str, rows: list[dict]) -> None:
        """Lines of another jsonl file in --out (each row has "step", so a resume can cut it back)."""
        if self.main and rows:
            with (self.out / filename).open("a") as f:
                f.writelines(json.dumps(r) + "\n" for r in rows)

    def close(self) -> None:
        if self.bar:
            self.bar.close()
        if self.writer:
            self.writer.close()
