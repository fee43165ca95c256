"""notebooks/quickstart.ipynb runs from top to bottom in a fresh kernel and shows what it promises."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs the dev extra (nbformat, nbclient)")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs the dev extra (nbformat, nbclient)")
pytest.importorskip("ipykernel", reason="the notebook test needs the dev extra (ipykernel)")
pytest.importorskip("matplotlib", reason="the notebook draws: pip install 'synthmatch[plot]'")

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "quickstart.ipynb"


def test_quickstart_runs_and_shows_sounds_and_a_picture(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    began = time.perf_counter()
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    seconds = time.perf_counter() - began
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    html = [output.data["text/html"] for output in outputs if "text/html" in output.get("data", {})]
    assert sum("<audio" in text for text in html) == 3  # the target, before and after
    assert sum("image/png" in output.get("data", {}) for output in outputs) == 1
    text = "".join(output.get("text", "") for output in outputs)
    assert "distance" in text and "nepers in 32 steps" in text
    assert seconds < 60, f"the quickstart took {seconds:.0f} s; keep it under 20 s"
