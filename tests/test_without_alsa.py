"""A machine without ALSA's library (libasound2), such as a bare GPU box: training and evaluation run all the same,
and only MIDI out, which does need it, fails, with an error that says what to install.

The library is hidden from the processes started here by a ``sitecustomize`` that makes ``import rtmidi`` fail as
it does there (python-rtmidi's extension links libasound.so.2).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hidden_library import hide_library


@pytest.fixture
def no_alsa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PYTHONPATH for the processes started from here on: a folder whose sitecustomize hides ALSA's library."""
    return hide_library(tmp_path, monkeypatch, ("rtmidi",),
                        'ImportError("libasound.so.2: cannot open shared object file: No such file or directory")')


def synthmatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``synthmatch ARGS`` in a fresh interpreter (the hook applies), its output captured."""
    return subprocess.run([sys.executable, "-m", "synthmatch", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_the_hook_hides_rtmidi(no_alsa: Path) -> None:
    result = subprocess.run([sys.executable, "-c", "import rtmidi"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "libasound.so.2" in result.stderr


def test_training_and_evaluation_need_no_alsa(no_alsa: Path, tmp_path: Path) -> None:
    trained = synthmatch("train", "--help", cwd=tmp_path)
    assert trained.returncode == 0 and "--workers" in trained.stdout, trained.stderr
    imported = subprocess.run([sys.executable, "-c", "import synthmatch.training.train, synthmatch.training.evaluate"],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr  # what `synthmatch train` runs, beyond its parser
    report = tmp_path / "report.json"
    evaluated = synthmatch("eval", "--random", "2", "--methods", "random", "--budgets", "4", "--out", str(report),
                           cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert report.is_file()


def test_midi_out_without_alsa_says_what_to_install(no_alsa: Path, tmp_path: Path) -> None:
    result = synthmatch("daemon", "--midi-port", "any", "--osc-port", "0", cwd=tmp_path)
    assert result.returncode != 0
    assert "MIDI out needs ALSA's library" in result.stderr and "apt-get install libasound2" in result.stderr
    assert "Traceback" not in result.stderr
