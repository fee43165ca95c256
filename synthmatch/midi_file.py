"""Standard MIDI files (SMF): one track of channel messages, as bytes, the format a DAW or a MIDI player reads.

Format 0 (one track), :data:`TICKS_PER_BEAT` ticks per quarter note at 120 bpm, a track name, then the messages one
tick apart (about 1 ms, so a hardware synth's MIDI input is never sent a burst), then the end of the track. The
layout follows the MIDI 1.0 specification's "Standard MIDI Files 1.0"; every message keeps its own status byte.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

#: Ticks per quarter note (the header's division).
TICKS_PER_BEAT = 480
#: Microseconds per quarter note: 120 bpm, so one tick is 500000 / 480 us, about 1.04 ms.
TEMPO_US = 500_000
#: Ticks between two messages.
MESSAGE_SPACING_TICKS = 1


def variable_length(number: int) -> bytes:
    """``number`` (0 .. 2**28 - 1) as an SMF variable-length quantity: 7 bits a byte, the high bit on all but the
    last."""
    if not 0 <= number < 1 << 28:
        raise ValueError(f"{number} does not fit in an SMF variable-length quantity (0 .. {(1 << 28) - 1})")
    out = [number & 0x7F]
    while number > 0x7F:
        number >>= 7
        out.append(0x80 | (number & 0x7F))
    return bytes(reversed(out))


def _meta(kind: int, data: bytes) -> bytes:
    """A meta event at delta 0: FF, its type, its length, its data."""
    return b"\x00\xff" + bytes([kind]) + variable_length(len(data)) + data


def standard_midi_file(messages: Sequence[Sequence[int]], track_name: str) -> bytes:
    """The bytes of a format-0 SMF that plays ``messages`` (channel messages as lists of bytes) in order.

    ``track_name`` is stored as the track's name (ASCII; other characters become ``?``).
    """
    events = [_meta(0x03, track_name.encode("ascii", "replace")), _meta(0x51, TEMPO_US.to_bytes(3, "big"))]
    for message in messages:
        if not message or not 0x80 <= message[0] <= 0xEF or any(not 0 <= b <= 0x7F for b in message[1:]):
            raise ValueError(f"{list(message)} is not a MIDI channel message")
        events.append(variable_length(MESSAGE_SPACING_TICKS) + bytes(message))
    events.append(_meta(0x2F, b""))
    track = b"".join(events)
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_BEAT)
    return header + b"MTrk" + struct.pack(">I", len(track)) + track
