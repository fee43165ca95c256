"""Write a :class:`SynthDefinition` back to TOML, so that loading the file gives the same definition.

The inverse of :func:`synthmatch.definitions.parse_definition`: keys that equal the format's defaults are
left out (see docs/definitions.md), except the ``[note]`` table, which is always written in full so that a
generated file shows every note setting a user may want to edit. A plugin path is written as parsed, that is
with ``~`` and ``$VARS`` already expanded. Files are written atomically.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import tomli_w

from synthmatch.atomic_file import write_atomically
from synthmatch.definitions import MidiTransport, OscTransport, Parameter, SynthDefinition


def definition_to_document(definition: SynthDefinition) -> dict[str, Any]:
    """The TOML document (a plain dict) that :func:`~synthmatch.definitions.parse_definition` turns back into
    ``definition``; ``source`` and ``sha256`` are not part of it (they describe a loaded file)."""
    channel = _shared_channel(definition)
    document: dict[str, Any] = {"name": definition.name, "kind": definition.kind}
    if definition.description:
        document["description"] = definition.description
    if definition.plugin_path is not None:
        document["plugin"] = {"path": str(definition.plugin_path)}
    document["note"] = asdict(definition.note)
    if channel != 1:
        document["midi"] = {"channel": channel}
    osc: dict[str, Any] = {}
    if definition.osc_host != "127.0.0.1":
        osc["host"] = definition.osc_host
    if definition.osc_port is not None:
        osc["port"] = definition.osc_port
    if osc:
        document["osc"] = osc
    document.update(definition.extra)
    document["parameters"] = [_parameter_table(p, channel) for p in definition.parameters]
    return document


def dumps_definition(definition: SynthDefinition, comment: str = "") -> str:
    """``definition`` as TOML text, headed by ``comment`` (one ``#`` line per line of it)."""
    header = "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())
    body = tomli_w.dumps(definition_to_document(definition))
    return f"{header}\n{body}" if header else body


def write_definition(definition: SynthDefinition, path: Path, comment: str = "") -> None:
    """Write ``definition`` to ``path`` atomically (:mod:`synthmatch.atomic_file`), creating its folder."""
    text = dumps_definition(definition, comment)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text)


def _shared_channel(definition: SynthDefinition) -> int:
    """The MIDI channel most parameters use (written once at the top), 1 when none has MIDI."""
    channels = Counter(p.midi.channel for p in definition.parameters if p.midi is not None)
    return channels.most_common(1)[0][0] if channels else 1


def _parameter_table(param: Parameter, channel: int) -> dict[str, Any]:
    table: dict[str, Any] = {"name": param.name}
    if param.curve != "linear":
        table["curve"] = param.curve
    if param.labels:
        table["labels"] = list(param.labels)
    if param.curve != "steps" or (param.min, param.max) != (0, len(param.labels) - 1):
        table.update(min=param.min, max=param.max)
    table["default"] = param.default
    if param.unit:
        table["unit"] = param.unit
    if param.plugin_name is not None:
        table["plugin_name"] = param.plugin_name
    if param.description:
        table["description"] = param.description
    if param.midi is not None:
        table["midi"] = _midi_table(param.midi, channel)
    if param.osc is not None:
        table["osc"] = _osc_table(param.osc, param)
    return table


def _midi_table(midi: MidiTransport, channel: int) -> dict[str, Any]:
    table: dict[str, Any] = {}
    if midi.channel != channel:
        table["channel"] = midi.channel
    if midi.nrpn is not None:
        table["nrpn"] = midi.nrpn
    else:
        table["cc"] = midi.cc
        if midi.cc_lsb is not None:
            table["cc_lsb"] = midi.cc_lsb
    top = 127 if midi.kind == "cc7" else 16383
    if (midi.min, midi.max) != (0, top):
        table.update(min=midi.min, max=midi.max)
    if midi.values is not None:
        table["values"] = list(midi.values)
    return table


def _osc_table(osc: OscTransport, param: Parameter) -> dict[str, Any]:
    table: dict[str, Any] = {"address": osc.address}
    if (osc.min, osc.max) != (param.min, param.max):
        table.update(min=osc.min, max=osc.max)
    if osc.type != "f":
        table["type"] = osc.type
    return table
