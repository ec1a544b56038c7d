"""Process group set-up and the collectives the trainer uses; every function is a no-op in a single process."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Env:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def environment(device: str | None = None) -> Env:
    """This process's place under torchrun (RANK/WORLD_SIZE/LOCAL_RANK) and its device (set current on GPU);
    joins no process group: for jobs whose ranks never talk to each other (training/rollout.py)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return Env(rank=rank, world=world, local_rank=local, device=dev)


def setup(device: str | None = None) -> Env:
    """environment(), then join the process group torchrun describes; nccl on GPU, gloo on CPU."""
    env = environment(device)
    if env.world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if env.device.type == "cuda" else "gloo", rank=env.rank, world_size=env.world)
    return env


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` from every rank along dim 0; gradients flow back to the owning rank. Shapes must match."""
    if not active():
        return x
    import warnings

    from torch.distributed.nn.functional import all_gather

    # Deprecated in favour of functional collectives, whose backward needs reduce-scatter (absent on gloo);
    # this one falls back to all-to-all there, so the same code runs on CPU tests and NCCL.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(all_gather(x), dim=0)


def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` from every rank along dim 0, without gradient (ids, keys, counts)."""
    if not active():
        return x
    parts = [torch.empty_like(x) for _ in range(world())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


def gather_varlen(x: torch.Tensor, grad: bool = True) -> torch.Tensor:
    """Like gather / gather_with_grad, for a dim 0 that differs between ranks (pads, gathers, strips)."""
    if not active():
        return x
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(world())]
    dist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    top = max(sizes)
    padded = torch.cat([x, x.new_zeros(top - x.shape[0], *x.shape[1:])]) if top > x.shape[0] else x
    parts = (gather_with_grad(padded) if grad else gather(padded)).split(top)
    return torch.cat([p[:s] for p, s in zip(parts, sizes)])


def all_sum(value: float | torch.Tensor) -> torch.Tensor:
    """Sum over ranks (a copy, on CPU)."""
    t = torch.as_tensor(value, dtype=torch.float64).clone()
    if active():
        backend_device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        t = t.to(backend_device)
        dist.all_reduce(t)
    return t.cpu()


def all_sum_dict(values: dict) -> dict[str, float]:
    """Each value summed over ranks, in one collective; keys in sorted order (every rank passes the same keys)."""
    keys = sorted(values)
    totals = all_sum(torch.tensor([float(values[k]) for k in keys], dtype=torch.float64))
    return {k: float(v) for k, v in zip(keys, totals)}


def all_max(value: float | torch.Tensor) -> torch.Tensor:
    """Maximum over ranks (a copy, on CPU): e.g. the micro-batch count every rank must run in step."""
    t = torch.as_tensor(value, dtype=torch.float64).clone()
    if active():
        backend_device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        t = t.to(backend_device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.cpu()


def barrier() -> None:
    if active():
        dist.barrier()


def cleanup() -> None:
    """Collective. Every rank reaches the end before any leaves: a rank tearing down its connections or the store
    (rank 0 hosts it) while a peer still talks to them can abort that peer."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
