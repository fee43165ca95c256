"""`synthmatch match` end to end, and the patch files it writes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from pedalboard.io import AudioFile

from synthmatch.cli import main
from synthmatch.definitions import find_definition
from synthmatch.params import quantise_all
from synthmatch.patches import Patch, PatchError, read_patch, write_patch
from synthmatch.synths import open_synth

torch.set_num_threads(1)

JSON_KEYS = {"distance_start", "distance", "renders", "seconds", "params", "method", "note", "steps", "synth"}


@pytest.fixture(scope="module")
def target_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A builtin note at MIDI 57 (220 Hz), written as a 16 kHz mono WAV."""
    synth = open_synth("builtin")
    patch = np.array(synth.definition.defaults_normalised())
    patch[synth.definition.parameter_names.index("noise_level")] = 0.0  # a clear pitch for the note estimate
    audio = synth.render(quantise_all(synth.definition, patch)[None], 57)
    path = tmp_path_factory.mktemp("targets") / "target.wav"
    with AudioFile(str(path), "w", samplerate=16000, num_channels=1) as file:
        file.write(audio)
    return path


def test_match_prints_one_json_object_and_writes_the_patch(
    tiny_model_dir: Path, target_wav: Path, tmp_path: Path
) -> None:
    out = tmp_path / "patch.json"
    command = [sys.executable, "-m", "synthmatch", "match", str(target_wav), "--synth", "builtin",
               "--model", str(tiny_model_dir), "--steps", "4", "--json", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= JSON_KEYS
    assert result["method"] == "agent" and result["synth"] == "builtin" and result["steps"] == 4
    assert result["renders"] == 5
    assert result["note"] == 57  # from the target's pitch
    assert result["distance"] <= result["distance_start"]
    definition = find_definition("builtin")
    assert list(result["params"]) == list(definition.parameter_names)
    patch = read_patch(out)
    assert patch.parameters == result["params"]
    assert patch.distance == result["distance"] and patch.note == 57 and patch.target == str(target_wav)
    np.testing.assert_allclose(patch.params(definition), result["params_normalised"], atol=1e-12)


def test_the_summary_for_people_names_the_distances_and_the_patch(
    tiny_model_dir: Path, target_wav: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["match", str(target_wav), "--model", str(tiny_model_dir), "--steps", "2", "--note", "60"]) == 0
    text = capsys.readouterr().out
    assert "MIDI note 60" in text and "distance" in text and "cutoff_hz" in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "annealing"], "unknown method 'annealing'; known: agent, random"),
        (["--method", "cma-es"], "unknown method 'cma-es'; did you mean cmaes"),
        (["--steps", "0"], "--steps 0 must be at least 1"),
        (["--synth", "nekobi"], "trained for 'builtin'.*does not fit synth 'nekobi'"),
    ],
)
def test_user_errors_are_one_clear_line(
    tiny_model_dir: Path, target_wav: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["match", str(target_wav), "--model", str(tiny_model_dir), *extra]) == 1
    error = capsys.readouterr().err
    assert error.startswith("synthmatch match: error:") and error.count("\n") == 1
    assert re.search(message, error)


def test_a_search_method_needs_no_training_wing(
    target_wav: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "synthmatch.training", None)  # as if the [train] extra were not installed
    assert main(["match", str(target_wav), "--method", "cmaes", "--steps", "6", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "cmaes" and result["renders"] <= 7 and result["distance"] <= result["distance_start"]


def test_patch_files_round_trip_in_units(tmp_path: Path) -> None:
    definition = find_definition("builtin")
    params = quantise_all(definition, np.random.default_rng(2).random(20))
    patch = Patch.from_params(definition, params, distance=0.25, note=62, method="cmaes", target="a.wav")
    path = write_patch(patch, tmp_path / "patch.json")
    assert [p.name for p in tmp_path.iterdir()] == ["patch.json"]  # no temp file left behind
    again = read_patch(path)
    assert again == patch
    np.testing.assert_allclose(again.params(definition), params, atol=1e-12)


def test_bad_patch_files_are_named_with_the_problem(tmp_path: Path) -> None:
    definition = find_definition("builtin")
    patch = Patch.from_params(definition, np.full(20, 0.5), distance=0.1, note=60, method="agent")
    with pytest.raises(PatchError, match="not 'nekobi'.*--synth builtin"):
        patch.params(find_definition("nekobi"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(PatchError, match="broken.json: not a readable JSON patch file"):
        read_patch(broken)
    data = patch.to_dict()
    del data["parameters"]
    broken.write_text(json.dumps(data))
    with pytest.raises(PatchError, match="missing key 'parameters'"):
        read_patch(broken)
    with pytest.raises(PatchError, match="is a folder"):
        write_patch(patch, tmp_path)
