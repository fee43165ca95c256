"""`synthmatch import-vst3` on the real Nekobi plugin: the definition it writes loads, opens and sounds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import NEKOBI_TOML

from synthmatch.definitions import load_definition
from synthmatch.synths import open_synth
from synthmatch.synths.vst3 import PluginNotFound, find_plugin

IMPORT = [sys.executable, "-m", "synthmatch", "import-vst3"]


@pytest.fixture(scope="module")
def nekobi_plugin() -> Path:
    """The built Nekobi.vst3, found as the shipped definition finds it; skipped when not built."""
    try:
        return find_plugin(load_definition(NEKOBI_TOML))
    except PluginNotFound:
        pytest.skip("Nekobi not built: run scripts/build-nekobi.sh")


def run_import(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IMPORT, *args], capture_output=True, text=True, timeout=120)


def test_the_written_definition_loads_opens_and_renders_sound(nekobi_plugin: Path, tmp_path: Path) -> None:
    out = tmp_path / "my-303.toml"
    result = run_import(str(nekobi_plugin), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"{out}: my-303, 8 parameters (1 stepped), 0 left out" in result.stderr
    definition = load_definition(out)
    assert definition.name == "my-303" and definition.kind == "vst3" and definition.note.sample_rate == 44100
    synth = open_synth(definition)
    audio = synth.render(np.array([definition.defaults_normalised(), np.full(8, 0.7)]), 45)
    assert audio.shape == (2, definition.note.render_samples) and np.all(np.abs(audio).max(axis=1) > 0.01)
    assert not np.allclose(audio[0], audio[1])  # the knobs turn the sound


def test_it_agrees_with_the_hand_written_nekobi_definition(nekobi_plugin: Path, tmp_path: Path) -> None:
    out = tmp_path / "nekobi.toml"
    assert run_import(str(nekobi_plugin), "--out", str(out)).returncode == 0
    imported, shipped = load_definition(out), load_definition(NEKOBI_TOML)
    assert imported.parameter_names == shipped.parameter_names
    for ours, theirs in zip(imported.parameters, shipped.parameters, strict=True):
        assert (ours.curve, ours.unit, ours.steps) == (theirs.curve, theirs.unit, theirs.steps), ours.name
        if ours.curve == "steps":
            assert [label.lower() for label in ours.labels] == list(theirs.labels)
        else:
            assert (ours.min, ours.max) == (theirs.min, theirs.max), ours.name  # the shipped ones are the plugin's
    assert imported.parameter("cutoff").default == shipped.parameter("cutoff").default == 25


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"hello", "not a VST3 plugin"),
        ("broken.vst3", b"not a plugin", "pedalboard could not load it as a VST3 plugin"),
        ("missing.vst3", None, "not a VST3 plugin"),
    ],
)
def test_a_file_that_is_not_a_vst3_instrument_is_refused_in_one_line(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    plugin = tmp_path / name
    if content is not None:
        plugin.write_bytes(content)
    result = run_import(str(plugin), "--out", str(tmp_path / "out.toml"))
    assert result.returncode == 1 and result.stderr.startswith("synthmatch import-vst3: error:")
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out.toml").exists()
