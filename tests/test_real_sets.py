"""Real evaluation sets: random patches rendered at various note lengths, every file brought to -3 dBFS peak."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pedalboard.io import AudioFile

from synthmatch.matched_audio import write_audio
from synthmatch.training.real_sets import PEAK_DBFS, RENDER_S, main, normalise_folder


def read(path: Path) -> tuple[np.ndarray, int]:
    """A mono WAV's samples and rate."""
    with AudioFile(str(path)) as file:
        return file.read(file.frames)[0], int(file.samplerate)


def test_a_synth_set_holds_held_notes_of_the_drawn_lengths_at_minus_3_dbfs(tmp_path: Path) -> None:
    assert main(["synth", "builtin", str(tmp_path), "--count", "3", "--seed", "4"]) == 0
    assert main(["normalise", str(tmp_path)]) == 0
    files = sorted(tmp_path.glob("builtin-*.wav"))
    assert len(files) == 3
    for path in files:
        audio, rate = read(path)
        assert audio.size == int(RENDER_S * rate)
        assert 20 * np.log10(np.max(np.abs(audio))) == pytest.approx(PEAK_DBFS, abs=0.01)
        gate_s = int(path.stem.split("-g")[1]) / 1000  # the note length drawn, in the name
        assert 0.2 <= gate_s <= 1.2 and np.max(np.abs(audio[: int(gate_s * rate)])) > 0.05  # it sounds while held
    again = tmp_path / "again"
    main(["synth", "builtin", str(again), "--count", "3", "--seed", "4"])
    assert [p.name for p in sorted(again.glob("*.wav"))] == [p.name for p in files]  # seeded


def test_normalising_a_silent_file_is_refused_by_name(tmp_path: Path) -> None:
    write_audio(tmp_path / "quiet.wav", np.zeros(100, np.float32), 16000)
    with pytest.raises(ValueError, match=r"quiet.wav: silent"):
        normalise_folder(tmp_path)
