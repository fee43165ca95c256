"""Synth definition files: parsing, validation errors that name the fix, the search path, shipped files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthmatch.definitions import (
    DefinitionError,
    find_definition,
    iter_definition_files,
    load_definition,
)

GOOD = """
name = "mini"
kind = "external"
[note]
midi_note = 48
sample_rate = 48000
[midi]
channel = 2
[[parameters]]
name = "cutoff_hz"
min = 20
max = 12000
default = 1000
curve = "log"
midi = { cc = 74 }
osc = { address = "/filter/cutoff" }
[[parameters]]
name = "wave"
curve = "steps"
labels = ["saw", "square"]
midi = { nrpn = 300, min = 0, max = 1, channel = 5 }
"""


def write(tmp_path: Path, text: str, name: str = "mini.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_definition_loads_with_its_transports(tmp_path: Path) -> None:
    d = load_definition(write(tmp_path, GOOD))
    assert d.name == "mini" and d.kind == "external" and d.note.midi_note == 48
    cutoff, wave = d.parameters
    assert cutoff.midi is not None and cutoff.midi.channel == 2 and cutoff.midi.kind == "cc7"
    assert cutoff.osc is not None and (cutoff.osc.min, cutoff.osc.max) == (20.0, 12000.0)
    assert wave.steps == 2 and wave.midi is not None and wave.midi.kind == "nrpn" and wave.midi.channel == 5
    assert len(d.sha256) == 64
    assert d.note.render_samples == 48000


@pytest.mark.parametrize(
    "change,message",
    [
        (('curve = "log"', 'curve = "exp"'), "curve 'exp' is not one of linear, log, steps"),
        (("min = 20", "min = 0"), "a log curve needs min > 0"),
        (("default = 1000", "default = 99999"), "default 99999.0 is outside 20.0..12000.0"),
        (("midi = { cc = 74 }", "midi = { cc = 128 }"), "cc 128 is outside 0..127"),
        (("midi = { cc = 74 }", "midi = { cc = 74, nrpn = 5 }"), "exactly one of 'cc'"),
        (('labels = ["saw", "square"]', 'labels = ["saw"]'), "needs 'labels' with at least two"),
        (('kind = "external"', 'kind = "hardware"'), "kind 'hardware' is not one of"),
        (("channel = 2", "channel = 17"), "channel 17 is outside 1..16"),
        (('address = "/filter/cutoff"', 'address = "filter"'), "must start with '/'"),
        (("midi_note = 48", "midi_note = 20"), "lowest_note <= midi_note"),
    ],
)
def test_bad_values_name_the_file_parameter_and_problem(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(DefinitionError, match="mini.toml") as info:
        load_definition(path)
    assert message in str(info.value)


def test_duplicate_names_missing_file_and_broken_toml(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="duplicate parameter names: cutoff_hz"):
        load_definition(write(tmp_path, GOOD.replace('name = "wave"', 'name = "cutoff_hz"')))
    with pytest.raises(DefinitionError, match="no such definition file"):
        load_definition(tmp_path / "absent.toml")
    with pytest.raises(DefinitionError, match="not valid TOML"):
        load_definition(write(tmp_path, "name = [", "broken.toml"))


def test_vst3_plugin_path_is_relative_to_the_file(tmp_path: Path) -> None:
    text = GOOD.replace('kind = "external"', 'kind = "vst3"\n[plugin]\npath = "plugins/X.vst3"')
    d = load_definition(write(tmp_path, text))
    assert d.plugin_path == tmp_path.resolve() / "plugins" / "X.vst3"


def test_search_path_finds_user_definitions_first_and_suggests_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, GOOD)
    monkeypatch.setenv("SYNTHMATCH_DEFINITIONS", str(tmp_path))
    assert find_definition("mini").source == (tmp_path / "mini.toml").resolve()
    assert next(iter(iter_definition_files())) == tmp_path / "mini.toml"
    with pytest.raises(DefinitionError, match="did you mean mini"):
        find_definition("minii")


def test_a_definition_is_found_by_the_name_it_declares_when_its_file_is_named_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `import-vst3 --name my-303 --out bass.toml` writes it: found as my-303 (and still as bass)."""
    write(tmp_path, GOOD.replace('name = "mini"', 'name = "my-303"'), "bass.toml")
    (tmp_path / "broken.toml").write_text("name = [")  # an unreadable neighbour is no obstacle
    monkeypatch.setenv("SYNTHMATCH_DEFINITIONS", str(tmp_path))
    assert find_definition("my-303").source == (tmp_path / "bass.toml").resolve()
    assert find_definition("bass").name == "my-303"
    with pytest.raises(DefinitionError, match="did you mean my-303"):
        find_definition("my-30")


@pytest.mark.parametrize("name", ["builtin", "nekobi", "zynaddsubfx"])
def test_shipped_definitions_load(name: str) -> None:
    d = find_definition(name)
    assert d.name == name
    assert d.parameters


def test_synths_command_lists_shipped_definitions(capsys: pytest.CaptureFixture[str]) -> None:
    from synthmatch.cli import main

    assert main(["synths", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["builtin"]["kind"] == "builtin" and rows["builtin"]["parameters"] >= 12
    assert rows["nekobi"]["kind"] == "vst3"
    assert rows["zynaddsubfx"]["kind"] == "external"
