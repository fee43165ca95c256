"""One midi.guide CSV row's MIDI message (CC, 14-bit CC pair or NRPN, its range and default) and usage field.

The row-level half of :mod:`synthmatch.midi_guide`, which turns the rows into a definition; the rules are in that
module's docstring. A row that cannot drive a sound parameter raises :class:`Unusable`, whose message is the reason
reported for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from synthmatch.definitions import MidiTransport

#: Channel mode messages: reserved by the MIDI specification, never a sound parameter (123 ends the note).
CHANNEL_MODE_CCS = {
    120: "All Sound Off", 121: "Reset All Controllers", 122: "Local Control", 123: "All Notes Off",
    124: "Omni Off", 125: "Omni On", 126: "Mono On", 127: "Poly On",
}
#: Controllers with a protocol meaning that devices may reuse for sound: (meaning, words of a row that uses
#: the protocol meaning). A row "Bank select" on CC 0 is skipped; "Filter EG amount" on CC 32 is kept.
PROTOCOL_CCS = {
    0: ("Bank Select", "bank"), 32: ("Bank Select LSB", "bank"), 6: ("Data Entry", "data"),
    38: ("Data Entry LSB", "data"), 96: ("Data Increment", "data|increment"), 97: ("Data Decrement", "data|decrement"),
    98: ("NRPN select LSB", "n?rpn|parameter number"), 99: ("NRPN select MSB", "n?rpn|parameter number"),
    100: ("RPN select LSB", "n?rpn|parameter number"), 101: ("RPN select MSB", "n?rpn|parameter number"),
}
#: Controllers sent inside every NRPN message (number, value, then the RPN null that closes it).
NRPN_CCS = frozenset({6, 38, 98, 99, 100, 101})
#: General MIDI reset values of 7-bit controllers whose minimum would silence the synth (volume, expression).
GM_RESET_VALUES = {7: 100, 11: 127}
#: Unit words of usage ranges -> (unit, parameter name suffix).
UNITS = {
    "semitones": ("semitones", "semitones"), "semitone": ("semitones", "semitones"),
    "cents": ("cents", "cents"), "cent": ("cents", "cents"), "%": ("%", "pct"), "percent": ("%", "pct"),
    "hz": ("Hz", "hz"), "db": ("dB", "db"), "ms": ("ms", "ms"), "s": ("s", "s"), "seconds": ("s", "s"),
    "octaves": ("octaves", "octaves"), "bpm": ("BPM", "bpm"), "degrees": ("degrees", "deg"),
}
#: A note (in the Bass Station II file) saying the usage values are those of the MSB, i.e. value / 128.
_USAGE_FOR_MSB = "usage is for msb"
_USAGE_ENTRY = re.compile(r"(\d+)\s*(?:([-~])\s*(\d+))?\s*:\s*(.*)", re.DOTALL)
_SPAN = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*(\S*?)\s+to\s+([+-]?\d+(?:\.\d+)?)\s*(.*)", re.IGNORECASE)


class Unusable(Exception):
    """Raised inside the row conversion; its message is the reason reported for the row."""


@dataclass(frozen=True)
class Message:
    """The MIDI message of one row: transport with its range, default value, the factor from usage
    values to message values, and a note for the description."""

    transport: MidiTransport
    default: int
    usage_scale: int
    note: str


@dataclass(frozen=True)
class UsageEntry:
    """One ``lo-hi: label`` (``continuous`` for ``lo~hi``) entry of a usage field, in CSV values."""

    lo: int
    hi: int
    continuous: bool
    label: str


def row_message(row: dict[str, str]) -> Message:
    """The row's CC or NRPN message; the finer one when it gives both, the CC on a tie."""
    found: list[Message] = []
    errors: list[Unusable] = []
    for build in (_cc_message, _nrpn_message):
        try:
            message = build(row)
        except Unusable as err:
            errors.append(err)
        else:
            if message is not None:
                found.append(message)
    if not found:
        raise errors[0] if errors else Unusable("no CC or NRPN number")
    return max(found, key=lambda m: m.transport.resolution)


def _cc_message(row: dict[str, str]) -> Message | None:
    """The row's 7-bit CC or 14-bit CC pair, None when it has no cc_msb."""
    msb, lsb = _number(row, "cc_msb"), _number(row, "cc_lsb")
    if msb is None:
        if lsb is not None:
            raise Unusable(f"cc_lsb {lsb} without a cc_msb")
        return None
    for column, cc in (("cc_msb", msb), ("cc_lsb", lsb)):
        if cc is None:
            continue
        if cc > 127:
            raise Unusable(f"{column} {cc} is outside 0..127")
        if cc in CHANNEL_MODE_CCS:
            raise Unusable(f"CC {cc} is {CHANNEL_MODE_CCS[cc]}, a channel mode message rather than a sound parameter")
        meaning, words = PROTOCOL_CCS.get(cc, ("", ""))
        if meaning and re.search(rf"\b({words})", row["parameter_name"] or "", re.IGNORECASE):
            raise Unusable(f"CC {cc} is {meaning}, a MIDI protocol message rather than a sound parameter")
    if lsb == msb:
        raise Unusable(f"cc_lsb {lsb} is the cc_msb: a 14-bit pair needs two controllers")
    top = 127 if lsb is None else 16383
    hi = _number(row, "cc_max_value")
    scale = 128 if lsb is not None and hi is not None and hi <= 127 else 1
    transport = MidiTransport(channel=1, cc=msb, cc_lsb=lsb, min=0, max=top)
    return _ranged(row, "cc", transport, scale)


def _nrpn_message(row: dict[str, str]) -> Message | None:
    """The row's NRPN (number ``msb * 128 + lsb``), None when it has none."""
    msb, lsb = _number(row, "nrpn_msb"), _number(row, "nrpn_lsb")
    if msb is None and lsb is None:
        return None
    if msb is None or lsb is None:
        raise Unusable("an NRPN needs both nrpn_msb and nrpn_lsb")
    if msb > 127 or lsb > 127:
        raise Unusable(f"NRPN {msb}/{lsb} is outside 0..127 / 0..127")
    return _ranged(row, "nrpn", MidiTransport(channel=1, nrpn=msb * 128 + lsb, min=0, max=16383), 1)


def _ranged(row: dict[str, str], prefix: str, full: MidiTransport, scale: int) -> Message:
    """``full`` narrowed to the row's ``{prefix}_min_value..{prefix}_max_value`` (times ``scale``), checked."""
    lo, hi = _number(row, f"{prefix}_min_value"), _number(row, f"{prefix}_max_value")
    note = "" if lo is not None or hi is not None else f"Range not in the CSV: {full.min}..{full.max} assumed."
    lo = full.min if lo is None else lo * scale
    hi = full.max if hi is None else hi * scale
    if lo == hi:
        raise Unusable(f"{prefix} range is the single value {lo}: a command, not a parameter")
    if lo > hi:
        raise Unusable(f"{prefix}_min_value {lo} is above {prefix}_max_value {hi}")
    if hi > full.max:
        raise Unusable(f"{prefix}_max_value {hi} is outside 0..{full.max} for this message")
    centre = (lo + hi + 1) // 2 if (row.get("orientation") or "").strip() == "centered" else lo
    if full.kind == "cc7" and full.cc in GM_RESET_VALUES and lo <= GM_RESET_VALUES[full.cc] <= hi:
        centre = GM_RESET_VALUES[full.cc]
    default = _number(row, f"{prefix}_default_value")
    default = centre if default is None or not lo <= default * scale <= hi else default * scale
    usage_scale = scale * 128 if _USAGE_FOR_MSB in (row.get("notes") or "").lower() else scale
    return Message(replace(full, min=lo, max=hi), default, usage_scale, note)


def _number(row: dict[str, str], column: str) -> int | None:
    """A whole-number cell, None when empty; :class:`Unusable` for anything else."""
    text = (row.get(column) or "").strip()
    if not text:
        return None
    if not re.fullmatch(r"[0-9]+", text):
        raise Unusable(f"{column} {text!r} is not a whole number")
    return int(text)


def parse_usage(text: str) -> tuple[UsageEntry, ...]:
    """The entries of a usage field; empty when it is blank or does not follow the usage syntax."""
    entries = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        match = _USAGE_ENTRY.fullmatch(part)
        if match is None:
            return ()
        a, b = int(match[1]), int(match[3] or match[1])
        entries.append(UsageEntry(min(a, b), max(a, b), match[2] == "~", match[4].strip()))
    return tuple(entries)


def usage_options(usage: tuple[UsageEntry, ...], message: Message) -> tuple[tuple[str, ...], tuple[int, ...]] | None:
    """(labels, MIDI values) of a usage listing two or more separate settings inside the range, by value."""
    if len(usage) < 2 or any(e.continuous for e in usage):
        return None
    ordered = sorted(usage, key=lambda e: e.lo)
    if any(a.hi >= b.lo for a, b in zip(ordered, ordered[1:], strict=False)):
        return None
    values = tuple(e.lo * message.usage_scale for e in ordered)
    if not (message.transport.min <= values[0] and values[-1] <= message.transport.max):
        return None
    return tuple(e.label or str(e.lo) for e in ordered), values


def unit_span(usage: tuple[UsageEntry, ...], message: Message) -> tuple[float, float, str, str] | None:
    """(value at MIDI min, value at MIDI max, unit, name suffix) for a usage like ``0~127: -24 to +24 semitones``."""
    if len(usage) != 1 or not usage[0].continuous:
        return None
    entry, transport = usage[0], message.transport
    match = _SPAN.fullmatch(entry.label)
    scale = message.usage_scale
    if match is None or (entry.lo * scale, entry.hi * scale) != (transport.min, transport.max):
        return None
    start, first_unit, end, unit_word = float(match[1]), match[2].lower(), float(match[3]), match[4].strip().lower()
    if start == end or (first_unit and first_unit != unit_word):
        return None
    unit, suffix = UNITS.get(unit_word, ("", ""))
    return start, end, unit, suffix
