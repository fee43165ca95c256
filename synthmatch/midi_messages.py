"""The bytes of MIDI channel messages: note on/off, 7-bit CC, 14-bit CC pairs and NRPN, and a whole patch as CCs.

The one place where a parameter's MIDI integer becomes messages: the daemon's MIDI output
(:mod:`synthmatch.daemon.parameter_sender`) and the MIDI files of :mod:`synthmatch.patch_exports` both use it.
Pure functions, no port: a message is a list of its bytes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from synthmatch.definitions import MidiTransport, SynthDefinition
from synthmatch.params import to_midi

Message = list[int]

#: Controller numbers of the NRPN parameter number (MSB, LSB) and of data entry (MSB, LSB).
NRPN_MSB, NRPN_LSB, DATA_MSB, DATA_LSB = 99, 98, 6, 38


def note_channel(definition: SynthDefinition) -> int:
    """The 1-based channel notes are played on: that of the definition's first MIDI parameter, else 1."""
    return next((p.midi.channel for p in definition.parameters if p.midi is not None), 1)


def note_on(channel: int, note: int, velocity: int) -> Message:
    """Note on: [0x9n, note, velocity] on the 1-based ``channel``."""
    return [0x90 | (channel - 1), note & 0x7F, velocity & 0x7F]


def note_off(channel: int, note: int) -> Message:
    """Note off: [0x8n, note, 0] on the 1-based ``channel``."""
    return [0x80 | (channel - 1), note & 0x7F, 0]


def control_messages(midi: MidiTransport, value: int) -> list[Message]:
    """The control changes that set ``midi``'s parameter to the integer ``value``.

    7-bit CC: one message. 14-bit CC: MSB on ``cc``, then LSB on ``cc_lsb``. NRPN: parameter number on 99/98,
    then the value on data entry 6 (MSB) and 38 (LSB); an NRPN whose range fits in 7 bits sends only CC 6.
    """
    status = 0xB0 | (midi.channel - 1)
    if midi.kind == "cc7":
        return [[status, _cc(midi), value & 0x7F]]
    if midi.kind == "cc14":
        assert midi.cc_lsb is not None
        return [[status, _cc(midi), (value >> 7) & 0x7F], [status, midi.cc_lsb, value & 0x7F]]
    assert midi.nrpn is not None
    select = [[status, NRPN_MSB, (midi.nrpn >> 7) & 0x7F], [status, NRPN_LSB, midi.nrpn & 0x7F]]
    if nrpn_is_7bit(midi):
        return [*select, [status, DATA_MSB, value & 0x7F]]
    return [*select, [status, DATA_MSB, (value >> 7) & 0x7F], [status, DATA_LSB, value & 0x7F]]


def nrpn_is_7bit(midi: MidiTransport) -> bool:
    """Whether an NRPN parameter's values all fit in data entry MSB alone (its range and values are <= 127)."""
    return max(midi.min, midi.max, *(midi.values or (0,))) <= 127


def _cc(midi: MidiTransport) -> int:
    assert midi.cc is not None
    return midi.cc


def patch_messages(definition: SynthDefinition, params: npt.ArrayLike) -> list[list[Message]]:
    """The control changes that set the normalised patch ``params[P]``: one list per parameter with a MIDI
    transport, in the definition's order (parameters without one are left out)."""
    values = np.asarray(params, dtype=np.float64).reshape(-1)
    if values.shape != (len(definition.parameters),):
        raise ValueError(f"{definition.name} takes {len(definition.parameters)} parameters, got {values.shape}")
    return [control_messages(p.midi, int(to_midi(p, x))) for p, x in zip(definition.parameters, values, strict=True)
            if p.midi is not None]
