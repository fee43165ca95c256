"""Where training's learner runs: ``--device auto|cpu|cuda`` as a torch device (the data stays on CPU workers).

The environment worker renders and computes features on the CPU in its own process; only the networks, their
optimisers and the minibatches move to the device. ``auto`` is CUDA when torch sees a GPU, else the CPU.
"""

from __future__ import annotations

import torch

#: The choices of ``synthmatch train --device``.
DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """The torch device for ``name`` (one of DEVICE_CHOICES); a ValueError says why ``cuda`` is not available."""
    if name not in DEVICE_CHOICES:
        raise ValueError(f"--device {name!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        built = torch.version.cuda
        why = f"built with CUDA {built}, but it finds no GPU or driver" if built else "built without CUDA (a CPU build)"
        raise ValueError(f"--device cuda: torch {torch.__version__} is {why}; use --device cpu, or install a CUDA "
                         "build of torch on a machine with an NVIDIA GPU (docs/training.md)")
    return torch.device(name)
