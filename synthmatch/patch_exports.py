"""A patch in the files a DAW or a hardware synth loads: a .vstpreset of a VST3 plugin's state, a MIDI file of CCs.

``synthmatch match --preset-out/--midi-file``, ``synthmatch patch convert`` and the daemon's ``patch/save`` write
them through :class:`Exports`. A .vstpreset is the plugin's own state (pedalboard's ``preset_data``, read from a
:class:`PresetSource`), so only a ``vst3`` synth has one. The MIDI file is a standard MIDI file of the control
changes (7-bit CC, 14-bit CC MSB then LSB, NRPN 99/98/6/38) that set every parameter with a MIDI transport on its
channel (:mod:`synthmatch.midi_messages`, :mod:`synthmatch.midi_file`). Both are written atomically and replace
only a file of their own kind, so nothing else is ever lost; every refusal is an :class:`ExportError` of one line.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from synthmatch.atomic_file import check_replaceable, write_atomically
from synthmatch.definitions import SynthDefinition
from synthmatch.midi_file import standard_midi_file
from synthmatch.midi_messages import patch_messages
from synthmatch.synths import Synth, open_synth

#: Suffix and first bytes of each kind of file, by the name ``patch/save`` knows it by.
SUFFIXES = {"vstpreset": ".vstpreset", "mid": ".mid"}
MAGIC = {".vstpreset": b"VST3", ".mid": b"MThd"}


class ExportError(ValueError):
    """A preset or MIDI file that cannot be written: the synth has none, or the path is wrong; says the fix."""


@runtime_checkable
class PresetSource(Protocol):
    """A synth that can give its plugin's state for a patch (:class:`~synthmatch.synths.vst3.Vst3Synth`)."""

    def preset_data(self, params: npt.ArrayLike) -> bytes:
        """The plugin's state with the normalised patch ``params[P]`` set, in .vstpreset format."""
        ...


def check_can_preset(definition: SynthDefinition) -> None:
    """Refuse a .vstpreset for a synth that is not a VST3 plugin."""
    if definition.kind != "vst3":
        raise ExportError(f"{definition.name} is a {definition.kind} synth, not a VST3 plugin, so it has no "
                          ".vstpreset; only vst3 synths have one (see `synthmatch synths`)")


def check_can_midi(definition: SynthDefinition) -> None:
    """Refuse a MIDI file for a synth none of whose parameters has a MIDI transport."""
    if not any(p.midi is not None for p in definition.parameters):
        raise ExportError(f"{definition.name} has no parameter with a MIDI transport (cc, cc_lsb or nrpn in its "
                          "definition), so there is no MIDI file to write; see docs/definitions.md")


def check_output_path(path: Path, suffix: str) -> Path:
    """``path`` if it ends in ``suffix``, its folder exists and any file there is one of its kind to replace."""
    if path.suffix.lower() != suffix:
        raise ExportError(f"{path}: name the file with the suffix {suffix}")
    check_replaceable(path, f"{suffix} file", lambda file: _starts_with(file, MAGIC[suffix]), ExportError,
                      "patch" + suffix)
    return path


def _starts_with(path: Path, magic: bytes) -> bool:
    """Whether the file ``path`` begins with the bytes ``magic`` (a file of the kind they mark)."""
    with path.open("rb") as file:
        return file.read(len(magic)) == magic


def preset_bytes(synth: Synth, params: npt.ArrayLike) -> bytes:
    """The .vstpreset of the normalised patch ``params[P]`` on ``synth``; an ExportError if it has none."""
    check_can_preset(synth.definition)
    if not isinstance(synth, PresetSource):
        raise ExportError(f"{synth.definition.name}: this synth is played outside synthmatch, so its plugin's state "
                          "cannot be read; save the patch as JSON and convert it with `synthmatch patch convert`")
    return synth.preset_data(np.asarray(params, dtype=np.float64))


def midi_file_bytes(definition: SynthDefinition, params: npt.ArrayLike) -> bytes:
    """A standard MIDI file of the control changes that set the normalised patch ``params[P]`` on ``definition``."""
    check_can_midi(definition)
    messages = [message for group in patch_messages(definition, params) for message in group]
    return standard_midi_file(messages, f"synthmatch patch for {definition.name}")


@dataclass(frozen=True)
class Exports:
    """Which files to write a patch into: a .vstpreset and/or a MIDI file (None: not that one)."""

    preset: Path | None = None
    midi: Path | None = None

    @classmethod
    def beside(cls, patch_file: Path, kinds: str) -> Exports:
        """The files next to ``patch_file`` (same name, their suffix) for ``kinds``: "vstpreset", "mid" or both,
        comma-separated (the daemon's ``patch/save`` option)."""
        names = [kind.strip().lower() for kind in kinds.split(",") if kind.strip()]
        unknown = [name for name in names if name not in SUFFIXES]
        if unknown or not names:
            raise ExportError(f"{kinds!r}: also write one of {', '.join(SUFFIXES)}, or both comma-separated "
                              "(vstpreset,mid)")
        return cls(*(patch_file.with_suffix(SUFFIXES[kind]) if kind in names else None for kind in SUFFIXES))

    def check_synth(self, definition: SynthDefinition) -> Exports:
        """Refuse a file that ``definition``'s synth cannot have (a preset of a non-VST3, MIDI without CCs)."""
        if self.preset is not None:
            check_can_preset(definition)
        if self.midi is not None:
            check_can_midi(definition)
        return self

    def check(self, definition: SynthDefinition) -> Exports:
        """Refuse, before any work, a file the synth cannot have or a path that cannot be written; returns self."""
        self.check_synth(definition)
        for path, kind in ((self.preset, "vstpreset"), (self.midi, "mid")):
            if path is not None:
                check_output_path(path, SUFFIXES[kind])
        return self

    def write(self, definition: SynthDefinition, params: npt.ArrayLike, synth: Synth | None = None) -> list[Path]:
        """Write the normalised patch ``params[P]`` on ``definition`` into each file, atomically; returns the paths.

        The preset is read from ``synth`` (default: the definition's backend, opened here).
        """
        self.check(definition)
        files = []
        if self.preset is not None:
            files.append((self.preset, preset_bytes(open_synth(definition) if synth is None else synth, params)))
        if self.midi is not None:
            files.append((self.midi, midi_file_bytes(definition, params)))
        return [write_atomically(path, data) for path, data in files]


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that write a patch for a DAW or hardware: ``--preset-out`` and ``--midi-file``."""
    parser.add_argument("--preset-out", type=Path, metavar="X.vstpreset",
                        help="write the patch as a .vstpreset that the plugin in a DAW loads (vst3 synths)")
    parser.add_argument("--midi-file", type=Path, metavar="X.mid",
                        help="write a standard MIDI file of the CC/14-bit CC/NRPN messages that set the patch "
                             "(synths whose definition has MIDI transports)")


def exports_from(args: argparse.Namespace) -> Exports:
    """The files that ``--preset-out`` and ``--midi-file`` ask for."""
    return Exports(preset=args.preset_out, midi=args.midi_file)
