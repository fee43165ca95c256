"""Import a midi.guide CSV (the CC / NRPN map of a hardware synth) as an external synth definition.

The midi.guide data set (Pencil Research, https://github.com/pencilresearch/midi, CC BY-SA 4.0) has one
CSV per device and one row per parameter; its CONTRIBUTING.md defines the columns and the ``usage``
mini-language (``0-63: Off; 64-127: On``: a dash is one setting, a tilde a continuous range). Every
definition made here carries that attribution in its ``[attribution]`` table.

Each usable row becomes one parameter on MIDI channel 1, in the CSV's order:

- a row with both a CC and an NRPN keeps the message with the finer resolution (the CC on a tie);
- a 14-bit CC pair whose range ends at 127 or below gives the range of the MSB (``1/33, 0..127``, the
  data set's usual shorthand), so it is scaled by 128; larger ranges are 14-bit values as written;
- a missing range is the message's full range (said in the parameter's description); a missing default
  (or one outside the range) is the centre for a ``centered`` row, the General MIDI reset value for
  volume and expression, and the minimum otherwise;
- one parameter documented on two rows (a CC row and an NRPN row, maybe marked ``(NRPN)``) is imported
  once, with the finer message;
- a usage of two or more separate settings becomes a ``steps`` parameter whose ``midi.values`` are each
  setting's first value (times 128 where the notes say "Usage is for MSB"); one continuous range
  labelled like ``-24 to +24 semitones`` gives the parameter those units (linear, name suffix
  ``_semitones``); any other usage is kept in the description.

Rows that cannot drive a sound parameter are reported in :attr:`ImportResult.skipped`, never dropped
silently: no number, numbers outside the message, a single value (a command), a channel mode message
(CC 120..127), a row that documents a protocol controller as such ("Bank select" on CC 0, "Data entry"
on CC 6, "NRPN MSB" on CC 99), a second row for a parameter already imported, a controller that an
earlier row already sends, or a CC that NRPN messages use (6, 38, 98..101) when the device has NRPNs.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from synthmatch.definition_writer import dumps_definition, write_definition
from synthmatch.definitions import MidiTransport, NoteSettings, Parameter, SynthDefinition
from synthmatch.midi_guide_messages import NRPN_CCS, Unusable, parse_usage, row_message, unit_span, usage_options

#: Columns a parameter CSV must have (the others of the template are optional).
REQUIRED_COLUMNS = (
    "manufacturer", "device", "section", "parameter_name",
    "cc_msb", "cc_lsb", "cc_min_value", "cc_max_value",
    "nrpn_msb", "nrpn_lsb", "nrpn_min_value", "nrpn_max_value",
)
LICENSE = "CC BY-SA 4.0"
LICENSE_URL = "https://creativecommons.org/licenses/by-sa/4.0/"
DATA_URL = "https://github.com/pencilresearch/midi"
#: Sample rate of the recorded audio: an external synth comes in through JACK, which runs at 48 kHz here.
SAMPLE_RATE_HZ = 48000


#: A message type written after a parameter name when a device has one row per message type.
_MESSAGE_MARK = re.compile(r"\s*\((?:NRPN|CC)\)$", re.IGNORECASE)


class MidiGuideError(ValueError):
    """A CSV cannot make a synth definition; the one-line message names the file and the reason."""


@dataclass(frozen=True)
class SkippedRow:
    """A CSV row that gave no parameter: its line number in the file, its parameter name, and why."""

    line: int
    name: str
    reason: str


@dataclass(frozen=True)
class ImportResult:
    """The definition made from one CSV and the rows that could not become parameters."""

    csv_path: Path
    definition: SynthDefinition
    skipped: tuple[SkippedRow, ...]

    def counts(self) -> dict[str, int]:
        """Parameters by message type: ``{"cc7": n, "cc14": n, "nrpn": n}``."""
        kinds = Counter(p.midi.kind for p in self.definition.parameters if p.midi is not None)
        return {kind: kinds[kind] for kind in ("cc7", "cc14", "nrpn")}

    def summary(self) -> str:
        """What was imported, then one line per skipped row (for stderr and the file's header)."""
        c = self.counts()
        lines = [
            f"{self.definition.name}: {len(self.definition.parameters)} parameters: {c['cc7']} 7-bit CC, "
            f"{c['cc14']} 14-bit CC, {c['nrpn']} NRPN; {len(self.skipped)} rows skipped"
        ]
        lines += [f"  line {s.line} ({s.name}): {s.reason}" for s in self.skipped]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Candidate:
    """A converted row before names are made unique and duplicates removed."""

    line: int
    section: str
    title: str
    parameter: Parameter


def import_midi_guide(csv_path: str | Path) -> ImportResult:
    """Build an external synth definition from one midi.guide CSV; :class:`MidiGuideError` if it cannot."""
    path = Path(csv_path)
    rows = _read_rows(path)
    candidates: list[_Candidate] = []
    skipped: list[SkippedRow] = []
    for line, row in rows:
        title = _MESSAGE_MARK.sub("", (row["parameter_name"] or "").strip())
        try:
            candidates.append(_Candidate(line, (row["section"] or "").strip(), title, _row_parameter(row, title)))
        except Unusable as err:
            skipped.append(SkippedRow(line, title, str(err)))
    kept = _drop_shared_controllers(_merge_same_parameter(candidates, skipped), skipped)
    if not kept:
        first = min(skipped, key=lambda s: s.line)
        raise MidiGuideError(
            f"{path}: none of its {len(rows)} rows is usable (line {first.line} ({first.name}): {first.reason})"
        )
    manufacturer = (rows[0][1]["manufacturer"] or path.parent.name).strip()
    device = (rows[0][1]["device"] or path.stem).strip()
    definition = SynthDefinition(
        name="-".join(_words(f"{manufacturer} {device}")) or "device",
        kind="external",
        parameters=_unique_names(kept),
        note=NoteSettings(sample_rate=SAMPLE_RATE_HZ),
        description=f"{manufacturer} {device} played over MIDI; parameters imported from midi.guide ({LICENSE})",
        extra={"attribution": {
            "data": "midi.guide MIDI CC & NRPN database by Pencil Research",
            "url": DATA_URL,
            "file": f"{path.parent.name}/{path.name}",
            "license": LICENSE,
            "license_url": LICENSE_URL,
        }},
    )
    return ImportResult(path, definition, tuple(sorted(skipped, key=lambda s: s.line)))


def run_import(csv_path: Path, out: Path | None) -> int:
    """``synthmatch import-midi-guide``: write the definition to ``out`` (atomically) or stdout, summary to stderr."""
    result = import_midi_guide(csv_path)
    attribution = result.definition.extra["attribution"]
    comment = (
        f"Made by `synthmatch import-midi-guide` from {attribution['file']} of the {attribution['data']}\n"
        f"({DATA_URL}), licensed {LICENSE} ({LICENSE_URL}); share changes under the same license.\n"
        + result.summary()
    )
    if out is None:
        sys.stdout.write(dumps_definition(result.definition, comment))
    else:
        write_definition(result.definition, out, comment)
    print(result.summary(), file=sys.stderr)
    return 0


def _read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The CSV's rows with their line numbers, after checking it is a midi.guide parameter CSV."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise MidiGuideError(f"{path}: no such file") from None
    except OSError as err:
        raise MidiGuideError(f"{path}: cannot read: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise MidiGuideError(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in reader.fieldnames or []]
    if "sound_name" in columns:
        raise MidiGuideError(f"{path}: a drum trigger map (a note per sound), not a parameter map")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise MidiGuideError(
            f"{path}: not a midi.guide parameter CSV: missing column(s) {', '.join(missing)}; "
            "the first line must be the template's header (manufacturer,device,section,parameter_name,...)"
        )
    reader.fieldnames = columns
    rows = [(reader.line_num, row) for row in reader]
    if not rows:
        raise MidiGuideError(f"{path}: a header but no parameter rows")
    return rows


def _row_parameter(row: dict[str, str], title: str) -> Parameter:
    """One CSV row as a parameter named after ``title`` (made unique later); :class:`Unusable` if it cannot."""
    message = row_message(row)
    transport = message.transport
    usage = parse_usage(row.get("usage") or "")
    name = "_".join(_words(title)) or (f"cc_{transport.cc}" if transport.nrpn is None else f"nrpn_{transport.nrpn}")
    options = usage_options(usage, message)
    if options is not None:
        labels, values = options
        index = max((i for i, v in enumerate(values) if v <= message.default), default=0)
        return Parameter(
            name=name, min=0.0, max=float(len(labels) - 1), default=float(index), curve="steps", labels=labels,
            midi=replace(transport, values=values), description=_description(row, message.note, usage=False),
        )
    span = unit_span(usage, message)
    description = _description(row, message.note, usage=span is None)
    if span is None:
        return Parameter(name=name, min=float(transport.min), max=float(transport.max),
                         default=float(message.default), midi=transport, description=description)
    start, end, unit, suffix = span
    at_default = start + (end - start) * (message.default - transport.min) / (transport.max - transport.min)
    if suffix and not {suffix, suffix.rstrip("s")} & set(name.split("_")):
        name = f"{name}_{suffix}"
    if start > end:  # the device counts down: flip the parameter and let MIDI run from max to min
        start, end = end, start
        transport = replace(transport, min=transport.max, max=transport.min)
    return Parameter(name=name, min=start, max=end, default=min(max(at_default, start), end), unit=unit,
                     midi=transport, description=description)


def _description(row: dict[str, str], note: str, usage: bool) -> str:
    """The row's section, name, description, usage (when not already in labels or units) and notes."""
    section, title = (row["section"] or "").strip(), (row["parameter_name"] or "").strip()
    parts = [f"{section}: {title}" if section else title, (row.get("parameter_description") or "").strip()]
    if usage and (row.get("usage") or "").strip():
        parts.append(f"Usage: {row['usage'].strip()}")
    if (row.get("notes") or "").strip():
        parts.append(f"Notes: {row['notes'].strip()}")
    parts.append(note)
    return " ".join(p if p.endswith(".") else f"{p}." for p in parts if p)


def _merge_same_parameter(candidates: list[_Candidate], skipped: list[SkippedRow]) -> list[_Candidate]:
    """One candidate per (section, name): the one with the finer message, at the first one's place."""
    place: dict[tuple[str, str], int] = {}
    kept: list[_Candidate] = []
    for candidate in candidates:
        key = (candidate.section.lower(), candidate.title.lower())
        if key not in place:
            place[key] = len(kept)
            kept.append(candidate)
            continue
        finer, coarser = sorted((kept[place[key]], candidate), key=lambda c: -_midi(c).resolution)
        kept[place[key]] = finer
        skipped.append(SkippedRow(coarser.line, coarser.title, f"same parameter as line {finer.line}, "
                                  f"which has the finer message ({_message_name(_midi(finer))})"))
    return kept


def _drop_shared_controllers(candidates: list[_Candidate], skipped: list[SkippedRow]) -> list[_Candidate]:
    """One candidate per controller (the first), and no CC inside the NRPN messages when there are NRPNs."""
    has_nrpn = any(_midi(c).nrpn is not None for c in candidates)
    senders: dict[tuple[str, int], _Candidate] = {}
    kept: list[_Candidate] = []
    for candidate in candidates:
        midi = _midi(candidate)
        address = ("nrpn", midi.nrpn) if midi.nrpn is not None else ("cc", midi.cc or 0)
        reason = ""
        if address in senders:
            first = senders[address]
            reason = f"{_message_name(midi)} is already sent by line {first.line} ({first.title})"
        elif has_nrpn and {midi.cc, midi.cc_lsb} & NRPN_CCS:
            reason = f"{_message_name(midi)} is part of every NRPN message, and this device has NRPN parameters"
        if reason:
            skipped.append(SkippedRow(candidate.line, candidate.title, reason))
            continue
        senders[address] = candidate
        kept.append(candidate)
    return kept


def _unique_names(candidates: list[_Candidate]) -> tuple[Parameter, ...]:
    """Parameters named uniquely: a clashing name gets its section in front, then a number behind."""
    names = [c.parameter.name for c in candidates]
    clashing = {n for n in names if names.count(n) > 1}
    qualified = []
    for candidate, name in zip(candidates, names, strict=True):
        section = "_".join(_words(candidate.section))
        if name in clashing and section and not f"{name}_".startswith(f"{section}_"):
            name = f"{section}_{name}"
        qualified.append(name)
    seen: Counter[str] = Counter()
    parameters = []
    for candidate, name in zip(candidates, qualified, strict=True):
        seen[name] += 1
        unique = name if seen[name] == 1 else f"{name}_{seen[name]}"
        parameters.append(replace(candidate.parameter, name=unique))
    return tuple(parameters)


def _midi(candidate: _Candidate) -> MidiTransport:
    """The MIDI transport that every imported parameter has."""
    assert candidate.parameter.midi is not None  # every imported parameter has MIDI
    return candidate.parameter.midi


def _message_name(midi: MidiTransport) -> str:
    """``CC 74``, ``CC 1/33`` or ``NRPN 3/5``, as the CSV numbers it."""
    if midi.nrpn is not None:
        return f"NRPN {midi.nrpn // 128}/{midi.nrpn % 128}"
    return f"CC {midi.cc}/{midi.cc_lsb}" if midi.cc_lsb is not None else f"CC {midi.cc}"


def _words(text: str) -> list[str]:
    """Lower-case ASCII words of ``text`` (accents folded), for slugs and parameter names."""
    folded = unicodedata.normalize("NFKD", text.casefold()).encode("ascii", "ignore").decode("ascii")
    return re.findall(r"[a-z0-9]+", folded.lower())
