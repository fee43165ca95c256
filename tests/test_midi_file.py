"""A patch's MIDI file read back by mido (a third-party parser): the CCs, 14-bit pairs and NRPNs set the patch.

Each file is parsed by mido and its control changes decoded as a synth would (7-bit CC, 14-bit MSB then LSB, NRPN
99/98 then 6/38); the values must equal the parameter map's (synthmatch.params.to_midi) for every parameter.
"""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

from synthmatch.definitions import SynthDefinition, find_definition, parse_definition
from synthmatch.midi_file import standard_midi_file, variable_length
from synthmatch.midi_guide import import_midi_guide
from synthmatch.params import quantise_all, to_midi
from synthmatch.patch_exports import Exports

MIDI_GUIDE = Path(__file__).resolve().parents[2] / "shared" / "data" / "midi-guide"

NRPN_SYNTH = {
    "name": "nrpn-thing", "kind": "external",
    "parameters": [
        {"name": "cutoff", "min": 0, "max": 1023, "midi": {"nrpn": 300, "max": 1023, "channel": 5}},
        {"name": "wave", "min": 0, "max": 3, "curve": "steps", "labels": ["a", "b", "c", "d"],
         "midi": {"nrpn": 5, "max": 127, "values": [0, 40, 80, 120], "channel": 5}},
        {"name": "drive", "min": 0, "max": 10, "midi": {"cc": 74, "channel": 5}},
        {"name": "fine", "min": -1, "max": 1, "midi": {"cc": 16, "cc_lsb": 48, "max": 16383, "channel": 5}},
        {"name": "by_osc", "min": 0, "max": 1, "osc": {"address": "/x", "min": 0, "max": 1}},
    ],
}


def decoded(path: Path) -> tuple[int, dict[tuple[int, str, int], int]]:
    """Parse ``path`` with mido -> (tracks, {(channel 1-16, "cc"/"nrpn", number): value}), pairs joined.

    A 14-bit pair's value is MSB * 128 + LSB; an NRPN's is data MSB * 128 + LSB, or data MSB alone when no LSB follows.
    """
    midi = mido.MidiFile(str(path))
    assert midi.type in (0, 1)
    values: dict[tuple[int, str, int], int] = {}
    last: dict[int, tuple[int, int]] = {}  # channel -> (controller, value) of the last 7-bit CC
    nrpn: dict[int, list[int]] = {}
    for message in midi.tracks[0]:
        if message.type != "control_change":
            continue
        channel, control, value = message.channel + 1, message.control, message.value
        select = nrpn.setdefault(channel, [0, 0])
        if control in (99, 98):
            select[0 if control == 99 else 1] = value
        elif control == 6:
            values[(channel, "nrpn", select[0] * 128 + select[1])] = value
        elif control == 38:
            key = (channel, "nrpn", select[0] * 128 + select[1])
            values[key] = values[key] * 128 + value
        elif control >= 32 and last.get(channel, (-1, 0))[0] == control - 32:  # the LSB of the CC just sent
            values[(channel, "cc", control - 32)] = last[channel][1] * 128 + value
        else:
            values[(channel, "cc", control)] = value
            last[channel] = (control, value)
    return len(midi.tracks), values


def expected(definition: SynthDefinition, params: np.ndarray) -> dict[tuple[int, str, int], int]:
    """The parameter map's MIDI integer of every parameter with a MIDI transport, keyed as :func:`decoded`."""
    out = {}
    for param, x in zip(definition.parameters, params, strict=True):
        if param.midi is not None:
            kind, number = ("nrpn", param.midi.nrpn) if param.midi.nrpn is not None else ("cc", param.midi.cc)
            assert number is not None
            out[(param.midi.channel, kind, number)] = int(to_midi(param, x))
    return out


def written(definition: SynthDefinition, tmp_path: Path, seed: int) -> tuple[Path, np.ndarray]:
    """A random patch of ``definition`` written as a MIDI file; the file and the patch."""
    params = quantise_all(definition, np.random.default_rng(seed).random(len(definition.parameters)))
    path = tmp_path / f"{definition.name}.mid"
    assert Exports(midi=path).write(definition, params) == [path]
    return path, params


def test_7_and_14_bit_ccs_of_the_builtin_synth_set_its_patch(tmp_path: Path) -> None:
    definition = find_definition("builtin")
    assert {p.midi.kind for p in definition.parameters if p.midi} == {"cc7", "cc14"}
    path, params = written(definition, tmp_path, 1)
    tracks, values = decoded(path)
    assert tracks == 1 and values == expected(definition, params)
    assert len(values) == sum(p.midi is not None for p in definition.parameters)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nrpn_14_and_7_bit_and_ccs_on_the_definitions_channel(tmp_path: Path, seed: int) -> None:
    definition = parse_definition(NRPN_SYNTH)
    path, params = written(definition, tmp_path, seed)
    tracks, values = decoded(path)
    assert tracks == 1 and values == expected(definition, params)
    assert {channel for channel, _, _ in values} == {5} and len(values) == 4  # the OSC-only parameter is not sent
    # NRPN 14-bit: 99, 98, 6, 38; NRPN within 7 bits: 99, 98, 6; CC: 1; 14-bit CC: MSB, LSB
    channels = [m.channel for m in mido.MidiFile(str(path)).tracks[0] if m.type == "control_change"]
    assert channels == [4] * (4 + 3 + 1 + 2)


@pytest.mark.skipif(not MIDI_GUIDE.is_dir(), reason="the midi.guide data set is not in ../shared/data")
def test_a_midi_guide_synth_with_ccs_pairs_and_nrpns(tmp_path: Path) -> None:
    definition = import_midi_guide(MIDI_GUIDE / "Novation" / "Bass Station II.csv").definition
    assert {p.midi.kind for p in definition.parameters if p.midi} == {"cc7", "cc14", "nrpn"}
    path, params = written(definition, tmp_path, 3)
    assert decoded(path) == (1, expected(definition, params))


def test_variable_length_quantities_are_the_specifications_examples() -> None:
    examples = {0: "00", 0x40: "40", 0x7F: "7f", 0x80: "8100", 0x2000: "c000", 0x3FFF: "ff7f", 0x100000: "c08000",
                0x0FFFFFFF: "ffffff7f"}
    assert {n: variable_length(n).hex() for n in examples} == examples
    with pytest.raises(ValueError, match="does not fit"):
        variable_length(1 << 28)


def test_only_channel_messages_go_into_a_file() -> None:
    with pytest.raises(ValueError, match="not a MIDI channel message"):
        standard_midi_file([[0xF0, 1, 2]], "x")
    assert standard_midi_file([], "x").startswith(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01")
