"""Checkpoints that resume exactly, and the exported model folder.

A checkpoint is a directory `<out>/checkpoints/step_00000040/`:
    model.pt       trainable parameters only (frozen ones equal the base model, which trainer.json names)
    optim.pt       optimiser state, keyed by parameter name
    trainer.json   step, data position (next global micro-batch), scheduler state, run config, dataset version
                   id, base model
    rng_rank{r}.pt python / numpy / torch (/ cuda) RNG states of every rank
It is written under a temporary name and renamed when complete, so a run killed mid-save leaves the previous
checkpoint as the latest. State dicts go through torch.distributed.checkpoint.state_dict, which gives full,
name-keyed tensors for a plain module, DDP and FSDP2 alike.

`export` writes a normal model folder (weights with LoRA merged, tokenizer with the two new tokens, image
processor, chat template, umedata_run.json) that training.model.load / evaluate / the RL stage read.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from training import dist

_PREFIX = "step_"


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(out: str | Path, step: int, position: int, net, optimizer, scheduler, meta: dict, keep: int = 2) -> Path:
    """Collective: every rank calls it. Returns the checkpoint directory."""
    root = Path(out) / "checkpoints"
    final = root / f"{_PREFIX}{step:08d}"
    tmp = root / f".tmp_{_PREFIX}{step:08d}"
    opts = StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True)
    model_sd = get_model_state_dict(net, options=opts)
    full = StateDictOptions(full_state_dict=True, cpu_offload=True)
    optim_sd = get_optimizer_state_dict(net, optimizer, options=full)
    if dist.rank() == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        torch.save(model_sd, tmp / "model.pt")
        torch.save(optim_sd, tmp / "optim.pt")
        state = {"step": step, "position": position, "scheduler": scheduler.state_dict(), "world": dist.world(), **meta}
        (tmp / "trainer.json").write_text(json.dumps(state, indent=2, default=str))
    dist.barrier()
    torch.save(_rng_state(), tmp / f"rng_rank{dist.rank()}.pt")
    dist.barrier()
    if dist.rank() == 0:
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in sorted(root.glob(f"{_PREFIX}*"))[:-keep] if keep else []:
            shutil.rmtree(old, ignore_errors=True)
    dist.barrier()
    return final


def latest(out: str | Path) -> Path | None:
    found = sorted((Path(out) / "checkpoints").glob(f"{_PREFIX}*"))
    return found[-1] if found else None


def load(path: str | Path, net, optimizer, scheduler) -> dict:
    """Restore model, optimiser, scheduler and this rank's RNG; returns trainer.json."""
    path = Path(path)
    state = json.loads((path / "trainer.json").read_text())
    model_sd = torch.load(path / "model.pt", map_location="cpu", weights_only=False)
    set_model_state_dict(net, model_sd, options=StateDictOptions(full_state_dict=True, strict=False))
    optim_sd = torch.load(path / "optim.pt", map_location="cpu", weights_only=False)
    set_optimizer_state_dict(net, optimizer, optim_sd, options=StateDictOptions(full_state_dict=True))
    scheduler.load_state_dict(state["scheduler"])
    rng = path / f"rng_rank{dist.rank()}.pt"
    if state.get("world") != dist.world() or not rng.exists():
        print(f"[resume] world size changed ({state.get('world')} -> {dist.world()}): data order is kept, "
              "per-rank RNG is not", flush=True)
        rng = path / "rng_rank0.pt"
    _set_rng_state(torch.load(rng, weights_only=False))
    return state


def export(out: str | Path, net, tokenizer, renderer, meta: dict) -> Path | None:
    """Collective. Rank 0 writes a loadable model folder; LoRA adapters are merged into the weights."""
    from training.model import core

    out = Path(out)
    module = getattr(net, "module", net)
    full = get_model_state_dict(net, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if dist.rank() != 0:
        dist.barrier()
        return None
    hf = module.hf
    if hasattr(hf, "merge_and_unload"):  # peft: fold the adapters and trainable token rows into the base weights
        hf = hf.merge_and_unload()
        hf.save_pretrained(out)
    else:
        state = {k[len("hf."):]: v for k, v in full.items() if k.startswith("hf.")}
        core(hf).save_pretrained(out, state_dict=state)
    tokenizer.save_pretrained(out)
    renderer.save(out)
    (out / "umedata_run.json").write_text(json.dumps(meta, indent=2, default=str))
    dist.barrier()
    return out
