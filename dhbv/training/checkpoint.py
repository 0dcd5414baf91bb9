"""Checkpoints: model, optimizer, scheduler and RNG states, written atomically."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from dhbv.io.atomic import atomic_path


def rng_state() -> dict:
    """Snapshot of the torch (CPU and CUDA), numpy and python RNG states."""
    st = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
          "python": random.getstate()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict) -> None:
    """Restore a :func:`rng_state` snapshot."""
    torch.set_rng_state(st["torch"])
    np.random.set_state(st["numpy"])
    random.setstate(st["python"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def save_atomic(obj, path) -> Path:
    """``torch.save`` to a temporary file in the target folder, then rename."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def save_checkpoint(path, *, model, optimizer, scheduler, member: int, epoch: int, step: int,
                    state: dict) -> Path:
    """Write a checkpoint. ``epoch``/``step`` are the *next* epoch and step to run."""
    return save_atomic({
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "member": member, "epoch": epoch, "step": step, "state": state, "rng": rng_state(),
    }, path)


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    return torch.load(path, map_location=map_location, weights_only=False)


def latest_checkpoint(ckpt_dir, member: int) -> Path | None:
    """Most recent checkpoint of a member (by (epoch, step) in the file name), or None."""
    d = Path(ckpt_dir)
    if not d.exists():
        return None
    best, key = None, (-1, -1)
    for p in d.glob(f"member{member}_e*_s*.pt"):
        try:
            e, s = p.stem.split("_e")[1].split("_s")
            k = (int(e), int(s))
        except (IndexError, ValueError):
            continue
        if k > key:
            best, key = p, k
    return best


def checkpoint_path(ckpt_dir, member: int, epoch: int, step: int) -> Path:
    """File name for (member, next epoch, next step)."""
    return Path(ckpt_dir) / f"member{member}_e{epoch:04d}_s{step:05d}.pt"
