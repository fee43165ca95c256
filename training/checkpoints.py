"""Checkpoints of a training run: one file, RUN_DIR/checkpoints/latest.pt, replaced atomically.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (so ``torch.load(weights_only=True)``
reads it): the networks, the optimisers, every random state and the stage and step counters. It is written with
:func:`synthmatch.atomic_file.replacing` (a temporary file flushed to disk, then renamed over the old one), so a
run killed at any moment leaves either the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthmatch.atomic_file import replacing

CHECKPOINT_DIR = "checkpoints"
LATEST = "latest.pt"


def checkpoint_path(run_dir: Path) -> Path:
    """Where the run's newest checkpoint lives: RUN_DIR/checkpoints/latest.pt."""
    return Path(run_dir) / CHECKPOINT_DIR / LATEST


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` as the run's newest checkpoint, atomically (temp file, fsync, rename); returns its path."""
    path = checkpoint_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as temporary:
        torch.save(state, temporary)
    return path


def load_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The run's newest checkpoint, or None when it has none yet; a ValueError names a damaged file and the fix."""
    path = checkpoint_path(run_dir)
    if not path.is_file():
        return None
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a truncated or foreign file
        raise ValueError(f"{path}: not a readable checkpoint ({err}); delete it to start the run over") from err
    return state


def random_state(rng: np.random.Generator) -> dict[str, Any]:
    """Every random state a run draws from: torch's, Python's, and the run's numpy generator ``rng``."""
    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": rng.bit_generator.state}


def restore_random_state(state: dict[str, Any], rng: np.random.Generator) -> None:
    """Put back what :func:`random_state` saved; ``rng`` is the run's numpy generator, changed in place."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    rng.bit_generator.state = state["numpy"]


def restore_generator(generator: torch.Generator, saved: torch.Tensor) -> None:
    """Put back a torch generator's saved state; one saved on another kind of device reseeds it from that state.

    A CUDA generator's state (16 bytes) is not a CPU generator's (5056), so a run checkpointed on a GPU and
    resumed on a CPU, or the other way round, cannot continue the same stream: it continues a stream seeded from
    the saved bytes instead, the same one every time that checkpoint is resumed on that kind of device.
    """
    if saved.numel() == generator.get_state().numel():
        generator.set_state(saved)
    else:
        digest = hashlib.sha256(saved.cpu().numpy().tobytes()).digest()
        generator.manual_seed(int.from_bytes(digest[:8], "little"))
