"""`synthmatch match` on sounds at users' levels: the output level, the note length, the matched sound, the reach."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthmatch.audio_files import load_target
from synthmatch.cli import main
from synthmatch.definitions import find_definition
from synthmatch.loudness import loudness_db
from synthmatch.matched_audio import write_audio
from synthmatch.note_length import with_note_length
from synthmatch.output_level import output_level_parameter, set_output_level
from synthmatch.params import normalise_all
from synthmatch.patches import read_patch
from synthmatch.reach import FAR, REACH_THRESHOLDS, reach_sentence, reach_word
from synthmatch.synths import open_synth

NOTE = 57


def held_note(gate_s: float, peak_dbfs: float) -> np.ndarray:
    """The built-in synth's default patch (no noise) at MIDI 57 held ``gate_s``, 2 s long, peaking at ``peak_dbfs``."""
    definition = with_note_length(find_definition("builtin"), gate_s, 2.0)
    values = {p.name: p.default for p in definition.parameters}
    values.update(noise_level=0.0, amp_attack_s=0.01, amp_sustain=0.8, amp_release_s=0.1)
    audio = open_synth(definition).render(normalise_all(definition, values)[None], NOTE)[0]
    return audio * np.float32(10 ** (peak_dbfs / 20) / np.max(np.abs(audio)))


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    """Run `synthmatch match ... --json` in this process and parse what it printed."""
    assert main(["match", *args, "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_a_loud_sample_sets_the_volume_and_the_rest_is_reported_as_gain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "loud.wav"
    write_audio(target, held_note(0.8, -1.0), 16000)
    patch, heard = tmp_path / "patch.json", tmp_path / "heard.wav"
    result = run_json(capsys, str(target), "--steps", "4", "--out", str(patch), "--audio-out", str(heard))
    assert result["level_parameter"] == "volume_db" and result["reach"] in ("exact", "close", "near", "far")
    assert abs(float(result["note_seconds"]) - 0.8) <= 0.12  # from the target's envelope
    written = read_patch(patch)
    assert written.gain_db == pytest.approx(result["gain_db"]) and written.note_seconds == result["note_seconds"]
    # What --audio-out wrote is as loud as the target and lasts as long as the target sounds (0.9 s of 2 s).
    target_audio = load_target(target, 16000, 32000)
    matched = load_target(heard, 16000, 32000)
    assert loudness_db(matched)[0] == pytest.approx(loudness_db(target_audio[:16000])[0], abs=1.0)
    assert np.count_nonzero(load_target(heard, 16000, 64000)) <= 32000


def test_the_output_level_is_found_by_rendering_the_volume_parameter() -> None:
    synth = open_synth("builtin")
    params = np.array(synth.definition.defaults_normalised())
    quiet = open_synth("builtin").render(params[None], NOTE)[0] * np.float32(10 ** (-12 / 20))
    level = set_output_level(synth, params, quiet, NOTE)
    assert level.parameter == "volume_db" and abs(level.gain_db) < 0.6  # -12 dB is within the volume's reach
    volume = synth.definition.parameter_names.index("volume_db")
    assert level.params[volume] < params[volume]
    assert output_level_parameter(find_definition("nekobi")) is not None
    assert output_level_parameter(find_definition("zynaddsubfx")) is None  # then the whole gain is reported


def test_note_seconds_overrides_the_estimate_and_bad_values_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "t.wav"
    write_audio(target, held_note(0.3, -3.0), 16000)
    assert run_json(capsys, str(target), "--steps", "1", "--note-seconds", "0.45")["note_seconds"] == 0.45
    assert main(["match", str(target), "--note-seconds", "-1"]) == 1
    assert "--note-seconds -1 must be between 0.05 and 4 s" in capsys.readouterr().err
    assert main(["match", str(target), "--audio-out", str(tmp_path / "x.txt")]) == 1
    assert "end the name with one of" in capsys.readouterr().err


def test_the_reach_words_follow_the_thresholds_in_order() -> None:
    bounds = [bound for _, bound in REACH_THRESHOLDS]
    assert bounds == sorted(bounds)
    assert [reach_word(b - 1e-9) for b in bounds] == [word for word, _ in REACH_THRESHOLDS]
    assert reach_word(bounds[-1]) == FAR and reach_word(float("nan")) == FAR
    assert reach_sentence(5.0).startswith("far: out of reach")


def test_the_matched_sound_replaces_its_file_whole_or_not_at_all(tmp_path: Path) -> None:
    """--audio-out over a file: a write that fails leaves the old sound as it was, one that works leaves no
    temporary file beside the new one."""
    out = tmp_path / "matched.wav"
    write_audio(out, held_note(0.3, -3.0), 16000)
    before = out.read_bytes()
    with pytest.raises(RuntimeError, match="dimensions"):
        write_audio(out, np.zeros((2, 3, 4), np.float32), 16000)  # no mono signal: the encoder refuses it
    assert out.read_bytes() == before
    write_audio(out, held_note(0.5, -6.0), 16000)
    assert out.read_bytes() != before and [p.name for p in tmp_path.iterdir()] == ["matched.wav"]
    assert load_target(out, 16000, 16000).shape == (16000,)
