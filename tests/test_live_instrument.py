"""The live instrument's pure parts: MIDI messages to parameter changes, and re-rendering the held note."""

from __future__ import annotations

import numpy as np
import pytest

from synthmatch.daemon.live_instrument import ControlDecoder, NoteOff, NoteOn, ParameterChange, Voice
from synthmatch.definitions import find_definition, parse_definition
from synthmatch.midi_messages import control_messages, note_off, note_on
from synthmatch.params import quantise, to_midi

BUILTIN = find_definition("builtin")


def _decode_all(decoder: ControlDecoder, messages: list[list[int]]) -> list[object]:
    return [event for message in messages for event in decoder.decode(message)]


def test_notes_on_the_channel_and_velocity_zero_is_note_off() -> None:
    decoder = ControlDecoder(BUILTIN)
    assert decoder.decode(note_on(1, 60, 100)) == [NoteOn(60, 100)]
    assert decoder.decode([0x90, 60, 0]) == [NoteOff(60)]
    assert decoder.decode(note_off(1, 60)) == [NoteOff(60)]
    assert decoder.decode(note_on(2, 60, 100)) == []  # another channel
    assert decoder.decode([0xF8]) == []  # clock


def test_every_controller_of_the_builtin_definition_round_trips() -> None:
    """What ParameterSender would send for each parameter decodes to the same quantised value."""
    decoder = ControlDecoder(BUILTIN)
    for index, param in enumerate(BUILTIN.parameters):
        assert param.midi is not None
        x = 0.3141
        events = _decode_all(decoder, control_messages(param.midi, int(to_midi(param, x))))
        assert events[-1] == ParameterChange(index, pytest.approx(float(quantise(param, x))))


def test_14bit_pair_applies_on_msb_then_exactly_on_lsb() -> None:
    decoder = ControlDecoder(BUILTIN)
    cutoff = BUILTIN.parameter_names.index("cutoff_hz")
    msb, lsb = decoder.decode([0xB0, 16, 0x40]), decoder.decode([0xB0, 48, 0x01])
    assert msb == [ParameterChange(cutoff, pytest.approx((0x40 << 7) / 16383))]
    assert lsb == [ParameterChange(cutoff, pytest.approx(((0x40 << 7) | 1) / 16383))]


def test_nrpn_14bit_and_7bit() -> None:
    definition = parse_definition({"name": "n", "kind": "external", "parameters": [
        {"name": "wide", "min": 0, "max": 1, "midi": {"nrpn": 300}},
        {"name": "narrow", "min": 0, "max": 1, "midi": {"nrpn": 5, "max": 127}},
    ]})
    decoder = ControlDecoder(definition)
    wide = _decode_all(decoder, control_messages(definition.parameters[0].midi, 12000))  # type: ignore[arg-type]
    assert wide[-1] == ParameterChange(0, pytest.approx(12000 / 16383))
    narrow = _decode_all(decoder, control_messages(definition.parameters[1].midi, 64))  # type: ignore[arg-type]
    assert narrow == [ParameterChange(1, pytest.approx(64 / 127))]
    assert decoder.decode([0xB0, 6, 3]) == [ParameterChange(1, pytest.approx(3 / 127))]  # NRPN 5 still selected


def test_voice_rerenders_from_the_same_position_and_releases_at_note_off() -> None:
    voice = Voice(BUILTIN, 48000)
    out = np.zeros((4800, 1), np.float32)
    voice.apply([(NoteOn(60, 100), 10.0)])
    voice.fill(out, 4800, None, None)  # type: ignore[arg-type]
    assert np.abs(out).max() > 0.01
    bright = out.copy()
    cutoff = BUILTIN.parameter_names.index("cutoff_hz")
    voice.apply([(ParameterChange(cutoff, 0.0), 10.1)])
    voice.fill(out, 4800, None, None)  # type: ignore[arg-type]
    assert np.abs(out).max() > 0  # still playing, from 0.1 s on, now darker
    assert not np.allclose(out, bright)
    voice.apply([(NoteOff(60), 10.2)])
    for _ in range(int(48000 * (0.1 + BUILTIN.parameter("amp_release_s").max + 0.2) / 4800)):
        voice.fill(out, 4800, None, None)  # type: ignore[arg-type]
    assert np.abs(out).max() < 1e-3  # released and silent long before the 4 s hold would end
