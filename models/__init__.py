"""The shipped, trained models: one folder per synth (observer.onnx, policy.onnx, metadata.json)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def shipped_model_dir(name: str) -> Path:
    """Folder of the shipped model for synth ``name``; FileNotFoundError lists the shipped ones."""
    root = Path(str(resources.files("synthmatch.models")))
    folder = root / name
    if not (folder / "metadata.json").is_file():
        shipped = sorted(p.name for p in root.iterdir() if (p / "metadata.json").is_file())
        raise FileNotFoundError(f"no shipped model for {name!r}; shipped: {', '.join(shipped) or 'none'}")
    return folder
