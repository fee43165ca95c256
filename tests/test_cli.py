"""The `synthmatch` console script as a user runs it: version, listing, importing, errors and exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from synthmatch import __version__
from synthmatch.definitions import load_definition

BUILTIN_TOML = Path(str(resources.files("synthmatch.synthdefs").joinpath("builtin.toml")))
SCRIPT = shutil.which("synthmatch") or str(Path(sys.executable).with_name("synthmatch"))
MIDI_GUIDE = Path(__file__).resolve().parents[2] / "shared" / "data" / "midi-guide"
needs_midi_guide = pytest.mark.skipif(
    not MIDI_GUIDE.is_dir(), reason=f"the midi.guide data set is not at {MIDI_GUIDE} (it lives in ../shared)"
)


def synthmatch(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_version_and_help() -> None:
    assert synthmatch("--version").stdout.strip() == f"synthmatch {__version__}"
    no_command = synthmatch()
    assert no_command.returncode == 2 and "synths" in no_command.stderr


def test_synths_table_names_every_shipped_definition() -> None:
    result = synthmatch("synths")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "kind", "params", "matches", "by", "path"]
    names = {line.split()[0]: line.split()[1:3] for line in lines[1:]}
    assert names["builtin"][0] == "builtin" and int(names["builtin"][1]) >= 12
    assert names["nekobi"] == ["vst3", "8"]


def test_synths_say_which_have_a_model_and_which_are_matched_by_search(tmp_path: Path) -> None:
    builtin = BUILTIN_TOML.read_text(encoding="utf-8")
    (tmp_path / "nomodel.toml").write_text(builtin.replace('name = "builtin"', 'name = "nomodel"', 1))
    env_run = subprocess.run([SCRIPT, "synths", "--json"], capture_output=True, text=True,
                             env={"SYNTHMATCH_DEFINITIONS": str(tmp_path), "PATH": ""}, timeout=120)
    rows = {r["name"]: r for r in json.loads(env_run.stdout)}
    assert rows["builtin"]["matches_by"] == "agent" and Path(rows["builtin"]["model"]).name == "builtin"
    assert rows["nomodel"]["matches_by"] == "cmaes" and rows["nomodel"]["model"] is None
    assert rows["nomodel"]["no_model"] == "none shipped for 'nomodel'"
    table = subprocess.run([SCRIPT, "synths"], capture_output=True, text=True,
                           env={"SYNTHMATCH_DEFINITIONS": str(tmp_path), "PATH": ""}, timeout=120).stdout
    assert any(line.split()[:5] == ["nomodel", "builtin", "20", "search", "(cmaes)"] for line in table.splitlines())


def test_a_broken_user_definition_is_listed_with_its_error(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text('name = "broken"\nkind = "builtin"\n')
    env_run = subprocess.run([SCRIPT, "synths", "--json"], capture_output=True, text=True,
                             env={"SYNTHMATCH_DEFINITIONS": str(tmp_path), "PATH": ""}, timeout=120)
    rows = {r["name"]: r for r in json.loads(env_run.stdout)}
    assert rows["broken"]["kind"] == "invalid" and "no [[parameters]]" in rows["broken"]["error"]
    assert rows["builtin"]["kind"] == "builtin"


@needs_midi_guide
def test_import_midi_guide_writes_a_definition_that_loads(tmp_path: Path) -> None:
    csv = next(p for p in sorted(MIDI_GUIDE.glob("Moog/*.csv")) if "triggers" not in p.name)
    out = tmp_path / "moog.toml"
    result = synthmatch("import-midi-guide", str(csv), "--out", str(out))
    assert result.returncode == 0, result.stderr
    definition = load_definition(out)
    assert definition.kind == "external" and len(definition.parameters) > 5
    assert "parameters" in result.stderr


@needs_midi_guide
def test_import_midi_guide_refuses_a_drum_trigger_map_in_one_line(tmp_path: Path) -> None:
    csv = next(MIDI_GUIDE.glob("*/*.triggers.csv"))
    result = synthmatch("import-midi-guide", str(csv), "--out", str(tmp_path / "x.toml"))
    assert result.returncode == 1
    message = result.stderr.strip()
    assert "\n" not in message and str(csv) in message
    assert not (tmp_path / "x.toml").exists()


def test_import_of_a_missing_file_fails_cleanly(tmp_path: Path) -> None:
    result = synthmatch("import-midi-guide", str(tmp_path / "nope.csv"))
    assert result.returncode == 1 and "nope.csv" in result.stderr and "Traceback" not in result.stderr


def test_match_refuses_a_note_outside_the_synths_playable_range(tmp_path: Path) -> None:
    import numpy as np
    from pedalboard.io import AudioFile

    target = tmp_path / "a3.wav"
    with AudioFile(str(target), "w", samplerate=16000, num_channels=1) as file:
        file.write(0.5 * np.sin(np.arange(16000) * 0.086)[None])
    result = synthmatch("match", str(target), "--note", "10", "--steps", "1")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr  # the shipped model's format warning may come first
    assert result.stderr.strip().splitlines()[-1] == (
        "synthmatch match: error: note 10 is outside the synth's playable range 36..84 "
        "(lowest_note..highest_note in its definition's [note] table); give a note in it"
    )


def test_a_missing_module_names_the_install_that_brings_it() -> None:
    """Only the training extra's modules send the user to it; any other missing module means a broken install."""
    from synthmatch.cli import missing_module_hint

    assert "pip install 'synthmatch[train]'" in missing_module_hint("torch.nn")
    assert "pip install 'synthmatch[train]'" in missing_module_hint("gymnasium")
    assert "--force-reinstall synthmatch" in missing_module_hint("pedalboard")
    assert "--force-reinstall synthmatch" in missing_module_hint(None)
