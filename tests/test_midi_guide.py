"""The midi.guide importer (CSV -> external synth definition) and the definition writer it uses."""

from __future__ import annotations

import csv
import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from synthmatch.definition_writer import dumps_definition, write_definition
from synthmatch.definitions import load_definition, parse_definition
from synthmatch.midi_guide import ImportResult, MidiGuideError, import_midi_guide, run_import

COLUMNS = [
    "manufacturer", "device", "section", "parameter_name", "parameter_description",
    "cc_msb", "cc_lsb", "cc_min_value", "cc_max_value", "cc_default_value",
    "nrpn_msb", "nrpn_lsb", "nrpn_min_value", "nrpn_max_value", "nrpn_default_value", "orientation", "notes", "usage",
]
DATA_SETS = [Path(__file__).parents[2] / "shared" / "data" / "midi-guide", Path("/work/shared/data/midi-guide")]
DOCS = Path(__file__).parents[1] / "docs" / "definitions.md"


def write_csv(folder: Path, *rows: dict[str, object], name: str = "Acme/Thing 1.csv") -> Path:
    """A midi.guide CSV for device Acme 'Thing 1' with the given cells (the rest empty)."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({"manufacturer": "Acme", "device": "Thing 1", "orientation": "0-based", **row})
    return path


def imported(folder: Path, *rows: dict[str, object]) -> ImportResult:
    return import_midi_guide(write_csv(folder, *rows))


def test_messages_are_kept_as_7_bit_14_bit_and_nrpn(tmp_path: Path) -> None:
    result = imported(
        tmp_path,
        {"section": "Filter", "parameter_name": "Cutoff", "cc_msb": 74, "cc_min_value": 0, "cc_max_value": 127},
        {"section": "Osc", "parameter_name": "Fine tune", "cc_msb": 16, "cc_lsb": 48, "cc_max_value": 16383},
        {"section": "Osc", "parameter_name": "Coarse tune", "cc_msb": 17, "cc_lsb": 49, "cc_max_value": 127},
        {"section": "Filter", "parameter_name": "Resonance", "nrpn_msb": 3, "nrpn_lsb": 5,
         "nrpn_min_value": 0, "nrpn_max_value": 1023, "nrpn_default_value": 512},
    )
    d = result.definition
    assert (d.name, d.kind, d.note.sample_rate) == ("acme-thing-1", "external", 48000)
    assert result.counts() == {"cc7": 1, "cc14": 2, "nrpn": 1}
    cutoff, fine, coarse, resonance = d.parameters
    assert cutoff.midi is not None and (cutoff.midi.cc, cutoff.midi.channel, cutoff.midi.kind) == (74, 1, "cc7")
    assert fine.midi is not None and (fine.midi.cc, fine.midi.cc_lsb, fine.midi.max) == (16, 48, 16383)
    # a pair documented with the MSB's range 0..127 is scaled to 14-bit values
    assert coarse.midi is not None and (coarse.midi.min, coarse.midi.max) == (0, 127 * 128)
    assert resonance.midi is not None and (resonance.midi.nrpn, resonance.midi.max) == (3 * 128 + 5, 1023)
    assert (resonance.min, resonance.max, resonance.default) == (0, 1023, 512)
    assert d.extra["attribution"]["license"] == "CC BY-SA 4.0"
    assert d.extra["attribution"]["file"] == "Acme/Thing 1.csv"


def test_a_row_with_cc_and_nrpn_keeps_the_finer_message_and_the_cc_on_a_tie(tmp_path: Path) -> None:
    both = {"cc_msb": 20, "cc_max_value": 127, "nrpn_msb": 0, "nrpn_lsb": 20, "nrpn_min_value": 0}
    d = imported(
        tmp_path,
        {"parameter_name": "Same", **both, "nrpn_max_value": 127},
        {"parameter_name": "Finer", **both, "cc_msb": 21, "nrpn_lsb": 21, "nrpn_max_value": 4095},
    ).definition
    assert d.parameter("same").midi is not None and d.parameter("same").midi.kind == "cc7"
    finer = d.parameter("finer").midi
    assert finer is not None and (finer.kind, finer.nrpn, finer.max) == ("nrpn", 21, 4095)


def test_discrete_usage_becomes_steps_with_labels_and_values(tmp_path: Path) -> None:
    wave = imported(tmp_path, {
        "parameter_name": "Waveform", "cc_msb": 20, "cc_min_value": 0, "cc_max_value": 127, "cc_default_value": 50,
        "usage": "86-127: Triangle; 0-42: Saw; 43-85: Square",
    }).definition.parameters[0]
    assert wave.curve == "steps" and wave.labels == ("Saw", "Square", "Triangle")
    assert wave.midi is not None and wave.midi.values == (0, 43, 86)
    assert wave.default == 1  # CC 50 selects Square


def test_a_continuous_usage_with_numbers_gives_units_and_a_named_unit(tmp_path: Path) -> None:
    d = imported(
        tmp_path,
        {"parameter_name": "Detune", "cc_msb": 21, "cc_min_value": 0, "cc_max_value": 127,
         "orientation": "centered", "usage": "0~127: -24 to +24 semitones"},
        {"parameter_name": "Slope", "cc_msb": 22, "cc_min_value": 0, "cc_max_value": 100,
         "usage": "0~100: 1.1 to 0.9"},
        {"parameter_name": "Mix", "cc_msb": 23, "cc_min_value": 0, "cc_max_value": 127,
         "usage": "0: Dry; 1~127: Wet amount"},
    ).definition
    detune = d.parameter("detune_semitones")
    assert (detune.min, detune.max, detune.unit) == (-24, 24, "semitones")
    assert detune.default == pytest.approx(-24 + 48 * 64 / 127)  # centred row: CC 64
    slope = d.parameter("slope")  # counts down: 0 is 1.1
    assert (slope.min, slope.max) == (0.9, 1.1)
    assert slope.midi is not None and (slope.midi.min, slope.midi.max) == (100, 0)
    mix = d.parameter("mix")
    assert (mix.min, mix.max, mix.curve) == (0, 127, "linear") and "Usage: 0: Dry; 1~127: Wet amount" in mix.description


def test_unusable_rows_are_reported_with_their_line_name_and_reason(tmp_path: Path) -> None:
    result = imported(
        tmp_path,
        {"parameter_name": "Cutoff", "section": "Filter", "cc_msb": 74},
        {"parameter_name": "Bank select", "cc_msb": 0},
        {"parameter_name": "Panic", "cc_msb": 70, "cc_min_value": 0, "cc_max_value": 0},
        {"parameter_name": "Patch name"},
        {"parameter_name": "Drive", "cc_msb": 74},
        {"parameter_name": "Cutoff", "section": "Filter", "nrpn_msb": 0, "nrpn_lsb": 74, "nrpn_max_value": 16383},
        {"parameter_name": "Ratio", "cc_msb": "7a"},
        {"parameter_name": "Wide", "cc_msb": 75, "cc_max_value": 255},
        {"parameter_name": "All notes off", "cc_msb": 123},
        {"parameter_name": "Spread", "cc_msb": 99},
        {"parameter_name": "Env 3 sustain", "cc_msb": 96},
    )
    # a device may use a protocol controller for sound (CC 96 here), unless NRPN messages need it (CC 99)
    assert [p.name for p in result.definition.parameters] == ["cutoff", "drive", "env_3_sustain"]
    assert [(s.line, s.name) for s in result.skipped] == [
        (2, "Cutoff"), (3, "Bank select"), (4, "Panic"), (5, "Patch name"), (8, "Ratio"), (9, "Wide"),
        (10, "All notes off"), (11, "Spread")]
    reasons = [s.reason for s in result.skipped]
    assert reasons[0] == "same parameter as line 7, which has the finer message (NRPN 0/74)"
    assert reasons[1] == "CC 0 is Bank Select, a MIDI protocol message rather than a sound parameter"
    assert "single value 0" in reasons[2]
    assert reasons[3] == "no CC or NRPN number"
    assert reasons[4] == "cc_msb '7a' is not a whole number"
    assert reasons[5] == "cc_max_value 255 is outside 0..127 for this message"
    assert reasons[6] == "CC 123 is All Notes Off, a channel mode message rather than a sound parameter"
    assert reasons[7] == "CC 99 is part of every NRPN message, and this device has NRPN parameters"
    assert "8 rows skipped" in result.summary() and "line 5 (Patch name): no CC or NRPN number" in result.summary()


def test_a_controller_sent_by_an_earlier_row_is_reported(tmp_path: Path) -> None:
    result = imported(
        tmp_path,
        {"parameter_name": "Sample tune", "section": "Sample", "cc_msb": 24},
        {"parameter_name": "Predelay", "section": "Reverb", "cc_msb": 24},
    )
    assert len(result.definition.parameters) == 1
    assert result.skipped[0].reason == "CC 24 is already sent by line 2 (Sample tune)"


def test_names_are_snake_case_unique_and_qualified_by_section(tmp_path: Path) -> None:
    d = imported(
        tmp_path,
        {"parameter_name": "Attack", "section": "Amp envelope", "cc_msb": 73},
        {"parameter_name": "Attack", "section": "Filter envelope", "cc_msb": 72},
        {"parameter_name": "Osc 1 -> Osc 2 (FM)", "section": "Osc", "cc_msb": 30},
        {"parameter_name": "Osc 1 -> Osc 2 [FM]", "section": "Osc", "cc_msb": 31},
        {"parameter_name": "Größe", "section": "Osc", "cc_msb": 34},
        {"parameter_name": "???", "section": "Osc", "cc_msb": 35},
        {"parameter_name": "Level", "section": "Amp", "cc_msb": 7},
    ).definition
    assert d.parameter_names == (
        "amp_envelope_attack", "filter_envelope_attack", "osc_1_osc_2_fm", "osc_1_osc_2_fm_2",
        "grosse", "cc_35", "level")
    assert d.parameter("level").default == 100  # General MIDI volume, not silence


@pytest.mark.parametrize(
    "content,reason",
    [
        ("manufacturer,device,section,sound_name,sound_description,midi_channel\nA,B,Kit,Kick,,10\n",
         "a drum trigger map"),
        ("manufacturer,device,parameter_name,cc\nA,B,Cutoff,74\n", "missing column(s) section, cc_msb"),
        (",".join(COLUMNS) + "\n", "a header but no parameter rows"),
        ("", "missing column(s) manufacturer"),
        (",".join(COLUMNS) + "\nA,B,,All notes off,,123,,0,0,,,,,,,0-based,,\n",
         "none of its 1 rows is usable (line 2 (All notes off): CC 123 is All Notes Off"),
    ],
)
def test_files_that_cannot_make_a_definition_are_refused_in_one_line(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "Device.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(MidiGuideError) as info:
        import_midi_guide(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and reason in message and "\n" not in message


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MidiGuideError, match="no such file"):
        import_midi_guide(tmp_path / "missing.csv")
    latin1 = tmp_path / "Latin.csv"
    latin1.write_bytes("manufacturer,device\nM\xe4ander,X\n".encode("latin-1"))
    with pytest.raises(MidiGuideError, match="not UTF-8 text"):
        import_midi_guide(latin1)


def test_run_import_writes_a_loadable_attributed_file_and_summarises_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path, {"parameter_name": "Cutoff", "cc_msb": 74}, {"parameter_name": "Reset", "cc_msb": 121})
    out = tmp_path / "defs" / "thing.toml"
    assert run_import(source, out) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "acme-thing-1: 1 parameters: 1 7-bit CC, 0 14-bit CC, 0 NRPN; 1 rows skipped" in captured.err
    assert "line 3 (Reset): CC 121 is Reset All Controllers" in captured.err
    text = out.read_text()
    assert text.startswith("# Made by `synthmatch import-midi-guide` from Acme/Thing 1.csv") and "CC BY-SA 4.0" in text
    assert load_definition(out).parameter_names == ("cutoff",)
    assert [p.name for p in out.parent.iterdir()] == ["thing.toml"]  # no temporary file left behind

    assert run_import(source, None) == 0
    printed = capsys.readouterr().out
    assert parse_definition(tomllib.loads(printed)).parameters == load_definition(out).parameters


@pytest.mark.parametrize("block", re.findall(r"```toml\n(.*?)```", DOCS.read_text(), re.DOTALL))
def test_the_writer_round_trips_every_documented_example(
    tmp_path: Path, block: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHMATCH_VST3_DIR", "/opt/vst3")  # the writer writes the plugin path as resolved
    definition = parse_definition(tomllib.loads(block))
    path = tmp_path / "out.toml"
    write_definition(definition, path, comment="round trip")
    again = load_definition(path)
    assert again.parameters == definition.parameters and again.note == definition.note
    assert (again.name, again.kind, again.description, again.extra) == (
        definition.name, definition.kind, definition.description, definition.extra)
    assert (again.plugin_path, again.osc_host, again.osc_port) == (
        definition.plugin_path, definition.osc_host, definition.osc_port)
    assert dumps_definition(again) == dumps_definition(definition)


# The whole midi.guide data set (about 400 CSVs, a few seconds).

def data_set() -> Path:
    for folder in DATA_SETS:
        if folder.is_dir():
            return folder
    pytest.skip(f"the midi.guide data set is not at {' or '.join(map(str, DATA_SETS))}")


@pytest.fixture(scope="module")
def every_file() -> dict[str, ImportResult | MidiGuideError]:
    root = data_set()
    outcomes: dict[str, ImportResult | MidiGuideError] = {}
    for path in sorted(root.rglob("*.csv")):
        try:
            outcomes[str(path.relative_to(root))] = import_midi_guide(path)
        except MidiGuideError as err:
            outcomes[str(path.relative_to(root))] = err
    return outcomes


def test_every_file_imports_or_is_refused_with_a_reason(every_file: dict[str, ImportResult | MidiGuideError]) -> None:
    results = [r for r in every_file.values() if isinstance(r, ImportResult)]
    refusals = Counter(re.sub(r"\(line.*", "", str(e).split(": ", 1)[1])
                       for e in every_file.values() if isinstance(e, MidiGuideError))
    kinds = sum((Counter(r.counts()) for r in results), Counter())
    skipped = Counter(re.sub(r"\d+", "N", re.sub(r" (by|as) line .*", "", s.reason.split(",")[0]))
                      for r in results for s in r.skipped)
    print(f"\n{len(every_file)} files: {len(results)} imported, {sum(refusals.values())} refused {dict(refusals)}")
    print(f"parameters: {dict(kinds)}; rows skipped: {sum(skipped.values())}")
    for reason, count in skipped.most_common(8):
        print(f"  {count:5d}  {reason}")
    assert len(results) >= 390 and kinds["cc14"] > 300 and kinds["nrpn"] > 3000
    for name, outcome in every_file.items():
        if isinstance(outcome, MidiGuideError):
            assert str(outcome).startswith(str(data_set() / name)) and "\n" not in str(outcome)
    assert all(name.endswith(".triggers.csv") for name, e in every_file.items()
               if isinstance(e, MidiGuideError) and "drum trigger map" in str(e))


def test_every_imported_file_round_trips_through_toml(
    every_file: dict[str, ImportResult | MidiGuideError], tmp_path: Path
) -> None:
    for name, outcome in every_file.items():
        if isinstance(outcome, ImportResult):
            path = tmp_path / f"{outcome.definition.name}.toml"
            write_definition(outcome.definition, path, comment=outcome.summary())
            assert load_definition(path).parameters == outcome.definition.parameters, name


def test_known_files_keep_14_bit_pairs_nrpns_and_report_skipped_rows(
    every_file: dict[str, ImportResult | MidiGuideError]
) -> None:
    minimoog = every_file["Moog/Minimoog Model D.csv"]
    assert isinstance(minimoog, ImportResult)
    wheel = minimoog.definition.parameter("mod_wheel").midi
    assert wheel is not None and (wheel.cc, wheel.cc_lsb, wheel.max) == (1, 33, 16383)

    bass_station = every_file["Novation/Bass Station II.csv"]
    assert isinstance(bass_station, ImportResult) and bass_station.counts()["nrpn"] > 20
    waveform = bass_station.definition.parameter("osc_1_waveform")
    assert waveform.labels == ("Sine", "Triangle", "Sawtooth", "Pulse")
    assert waveform.midi is not None and waveform.midi.nrpn == 72 and waveform.midi.values == (0, 128, 256, 384)

    subsequent = every_file["Moog/Subsequent 37.csv"]
    assert isinstance(subsequent, ImportResult)
    assert subsequent.counts()["cc14"] > 0 and subsequent.counts()["nrpn"] > 50
    assert "oscillator_1_octave_nrpn" not in subsequent.definition.parameter_names  # one row per parameter
    reasons = {s.name: s.reason for s in subsequent.skipped}
    assert "Bank Select" in reasons["Bank select"] and "same parameter as line 2" in reasons["Oscillator 1 octave"]

    ob6 = every_file["Oberheim/OB-6.csv"]
    assert isinstance(ob6, ImportResult) and ob6.counts()["nrpn"] > 0
    assert "CC 99 is NRPN select MSB" in {s.name: s.reason for s in ob6.skipped}["NRPN parameter MSB"]
    summit = every_file["Novation/Summit and Peak.csv"]
    assert isinstance(summit, ImportResult)
    assert "part of every NRPN message" in {s.name: s.reason for s in summit.skipped}["Osc 2 mod 2 pitch"]
    hydrasynth = every_file["ASM/Hydrasynth.csv"]
    assert isinstance(hydrasynth, ImportResult) and "env3_sustain" in hydrasynth.definition.parameter_names
