"""Copies of the tests' model folders with a part left out, for tests of what a folder without it does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def headless_copy(model_dir: Path, folder: Path) -> Path:
    """A copy of ``model_dir`` at ``folder`` without its one-shot network."""
    shutil.copytree(model_dir, folder)
    (folder / "oneshot.onnx").unlink()
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["files"]["oneshot"] = None
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return folder
