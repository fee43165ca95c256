"""Synth definitions: the TOML files that tell synthmatch what a synth is and how to reach its parameters.

A definition is data shared by both wings (see docs/definitions.md for the format). Parsing validates
everything at this boundary and names the file, the parameter and the fix in every error, so nothing
inside the package has to check again.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from synthmatch.name_hints import did_you_mean
from synthmatch.params import normalise

Kind = Literal["builtin", "vst3", "external"]
Curve = Literal["linear", "log", "steps"]
KINDS: tuple[str, ...] = ("builtin", "vst3", "external")
CURVES: tuple[str, ...] = ("linear", "log", "steps")

#: Environment variable with extra folders of definitions, separated by the OS path separator.
DEFINITIONS_PATH_VAR = "SYNTHMATCH_DEFINITIONS"


class DefinitionError(ValueError):
    """A synth definition is missing, malformed or inconsistent; the message names the file and the fix."""


@dataclass(frozen=True)
class MidiTransport:
    """How one parameter is sent over MIDI.

    Exactly one of ``cc`` (7-bit, or 14-bit when ``cc_lsb`` is set) and ``nrpn`` is set. ``min``/``max`` are the
    integer values that the parameter's own min and max map to (defaults: the full range of the message).
    ``values`` lists explicit integer values for the labels of a stepped parameter.
    """

    channel: int
    cc: int | None = None
    cc_lsb: int | None = None
    nrpn: int | None = None
    min: int = 0
    max: int = 127
    values: tuple[int, ...] | None = None

    @property
    def kind(self) -> Literal["cc7", "cc14", "nrpn"]:
        """The message type: 7-bit CC, 14-bit CC pair, or NRPN."""
        if self.nrpn is not None:
            return "nrpn"
        return "cc14" if self.cc_lsb is not None else "cc7"

    @property
    def resolution(self) -> int:
        """Number of distinct integer values between ``min`` and ``max`` inclusive."""
        return abs(self.max - self.min) + 1


@dataclass(frozen=True)
class OscTransport:
    """How one parameter is sent over OSC: the address and the value range it expects (``type`` f or i)."""

    address: str
    min: float
    max: float
    type: Literal["f", "i"] = "f"


@dataclass(frozen=True)
class Parameter:
    """One synth parameter, in the synth's own units.

    ``curve`` says how the agent's normalised [0, 1] maps to units: ``linear``, ``log`` (min > 0), or ``steps``
    (``len(labels)`` discrete values spread evenly from min to max).
    """

    name: str
    min: float
    max: float
    default: float
    curve: Curve = "linear"
    unit: str = ""
    labels: tuple[str, ...] = ()
    plugin_name: str | None = None
    midi: MidiTransport | None = None
    osc: OscTransport | None = None
    description: str = ""

    @property
    def steps(self) -> int:
        """Number of discrete values for a ``steps`` parameter, 0 for a continuous one."""
        return len(self.labels) if self.curve == "steps" else 0


@dataclass(frozen=True)
class NoteSettings:
    """How to play a note when matching: which note, how hard, how long, and how long to listen."""

    midi_note: int = 60
    velocity: int = 100
    note_seconds: float = 0.6
    render_seconds: float = 1.0
    sample_rate: int = 16000
    lowest_note: int = 36
    highest_note: int = 84

    @property
    def render_samples(self) -> int:
        """Length of a render in samples."""
        return int(round(self.render_seconds * self.sample_rate))


@dataclass(frozen=True)
class SynthDefinition:
    """A whole synth definition: its name, kind, note settings, parameters and where it came from."""

    name: str
    kind: Kind
    parameters: tuple[Parameter, ...]
    note: NoteSettings = field(default_factory=NoteSettings)
    description: str = ""
    plugin_path: Path | None = None
    osc_host: str = "127.0.0.1"
    osc_port: int | None = None
    source: Path | None = None
    sha256: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The parameters' names, in the order of the agent's vectors."""
        return tuple(p.name for p in self.parameters)

    def defaults_normalised(self) -> list[float]:
        """Each parameter's default value in normalised [0, 1]."""
        return [float(normalise(p, p.default)) for p in self.parameters]

    def parameter(self, name: str) -> Parameter:
        """The parameter called ``name``; a KeyError names the close matches."""
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no parameter {name!r}{did_you_mean(name, self.parameter_names)}")


def _need(table: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: str) -> Any:
    if key not in table:
        raise DefinitionError(f"{where}: missing key {key!r}")
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, types):
        raise DefinitionError(f"{where}: {key!r} must be {_type_names(types)}, got {value!r}")
    return value


def _opt(table: Mapping[str, Any], key: str, types: type | tuple[type, ...], default: Any, where: str) -> Any:
    return _need(table, key, types, where) if key in table else default


def _type_names(types: type | tuple[type, ...]) -> str:
    names = [t.__name__ for t in (types if isinstance(types, tuple) else (types,))]
    return " or ".join(names)


_NUMBER = (int, float)


def _parse_midi(table: Mapping[str, Any], param: Parameter, channel: int, where: str) -> MidiTransport:
    where = f"{where}.midi"
    channel = _opt(table, "channel", int, channel, where)
    if not 1 <= channel <= 16:
        raise DefinitionError(f"{where}: channel {channel} is outside 1..16")
    cc = _opt(table, "cc", int, None, where)
    cc_lsb = _opt(table, "cc_lsb", int, None, where)
    nrpn = _opt(table, "nrpn", int, None, where)
    if (cc is None) == (nrpn is None):
        raise DefinitionError(f"{where}: give exactly one of 'cc' (with optional 'cc_lsb') and 'nrpn'")
    for key, value in (("cc", cc), ("cc_lsb", cc_lsb)):
        if value is not None and not 0 <= value <= 127:
            raise DefinitionError(f"{where}: {key} {value} is outside 0..127")
    if cc_lsb is not None and cc is None:
        raise DefinitionError(f"{where}: 'cc_lsb' needs 'cc' (the MSB controller)")
    if nrpn is not None and not 0 <= nrpn <= 16383:
        raise DefinitionError(f"{where}: nrpn {nrpn} is outside 0..16383")
    top = 127 if (cc is not None and cc_lsb is None) else 16383
    lo = _opt(table, "min", int, 0, where)
    hi = _opt(table, "max", int, top, where)
    for key, value in (("min", lo), ("max", hi)):
        if not 0 <= value <= top:
            raise DefinitionError(f"{where}: {key} {value} is outside 0..{top} for this message type")
    if lo == hi:
        raise DefinitionError(f"{where}: min and max are both {lo}")
    values = _opt(table, "values", list, None, where)
    if values is not None:
        if param.curve != "steps" or len(values) != param.steps:
            raise DefinitionError(f"{where}: 'values' needs a steps parameter and one value per label")
        if any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top for v in values):
            raise DefinitionError(f"{where}: 'values' must be integers in 0..{top}")
        values = tuple(values)
    return MidiTransport(channel=channel, cc=cc, cc_lsb=cc_lsb, nrpn=nrpn, min=lo, max=hi, values=values)


def _parse_osc(table: Mapping[str, Any], param: Parameter, where: str) -> OscTransport:
    where = f"{where}.osc"
    address = _need(table, "address", str, where)
    if not address.startswith("/"):
        raise DefinitionError(f"{where}: address {address!r} must start with '/'")
    lo = float(_opt(table, "min", _NUMBER, param.min, where))
    hi = float(_opt(table, "max", _NUMBER, param.max, where))
    kind = _opt(table, "type", str, "f", where)
    if kind not in ("f", "i"):
        raise DefinitionError(f"{where}: type must be 'f' or 'i', got {kind!r}")
    return OscTransport(address=address, min=lo, max=hi, type=kind)


def _parse_parameter(table: Mapping[str, Any], channel: int, where: str) -> Parameter:
    name = _need(table, "name", str, where)
    where = f"{where} ({name})"
    curve = _opt(table, "curve", str, "linear", where)
    if curve not in CURVES:
        raise DefinitionError(f"{where}: curve {curve!r} is not one of {', '.join(CURVES)}")
    labels = tuple(str(v) for v in _opt(table, "labels", list, [], where))
    if curve == "steps":
        if len(labels) < 2:
            raise DefinitionError(f"{where}: a steps parameter needs 'labels' with at least two entries")
        lo = float(_opt(table, "min", _NUMBER, 0, where))
        hi = float(_opt(table, "max", _NUMBER, len(labels) - 1, where))
    else:
        lo = float(_need(table, "min", _NUMBER, where))
        hi = float(_need(table, "max", _NUMBER, where))
    if not lo < hi:
        raise DefinitionError(f"{where}: min ({lo}) must be below max ({hi})")
    if curve == "log" and lo <= 0:
        raise DefinitionError(f"{where}: a log curve needs min > 0, got {lo}; use curve = 'linear'")
    default = float(_opt(table, "default", _NUMBER, lo, where))
    if not lo <= default <= hi:
        raise DefinitionError(f"{where}: default {default} is outside {lo}..{hi}")
    param = Parameter(
        name=name,
        min=lo,
        max=hi,
        default=default,
        curve=curve,
        unit=_opt(table, "unit", str, "", where),
        labels=labels,
        plugin_name=_opt(table, "plugin_name", str, None, where),
        description=_opt(table, "description", str, "", where),
    )
    midi = _opt(table, "midi", dict, None, where)
    osc = _opt(table, "osc", dict, None, where)
    return Parameter(
        **{**param.__dict__,
           "midi": _parse_midi(midi, param, channel, where) if midi is not None else None,
           "osc": _parse_osc(osc, param, where) if osc is not None else None}
    )


def parse_definition(data: Mapping[str, Any], source: Path | None = None, sha256: str = "") -> SynthDefinition:
    """Build a :class:`SynthDefinition` from parsed TOML, checking every field."""
    where = str(source) if source else "<definition>"
    name = _need(data, "name", str, where)
    kind = _need(data, "kind", str, where)
    if kind not in KINDS:
        raise DefinitionError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    note_table = _opt(data, "note", dict, {}, where)
    nw = f"{where} [note]"
    note = NoteSettings(
        midi_note=_opt(note_table, "midi_note", int, 60, nw),
        velocity=_opt(note_table, "velocity", int, 100, nw),
        note_seconds=float(_opt(note_table, "note_seconds", _NUMBER, 0.6, nw)),
        render_seconds=float(_opt(note_table, "render_seconds", _NUMBER, 1.0, nw)),
        sample_rate=_opt(note_table, "sample_rate", int, 16000, nw),
        lowest_note=_opt(note_table, "lowest_note", int, 36, nw),
        highest_note=_opt(note_table, "highest_note", int, 84, nw),
    )
    if not 0 <= note.lowest_note <= note.midi_note <= note.highest_note <= 127:
        raise DefinitionError(f"{nw}: need 0 <= lowest_note <= midi_note <= highest_note <= 127")
    if not 1 <= note.velocity <= 127:
        raise DefinitionError(f"{nw}: velocity {note.velocity} is outside 1..127")
    if not 0 < note.note_seconds <= note.render_seconds <= 30:
        raise DefinitionError(f"{nw}: need 0 < note_seconds <= render_seconds <= 30")
    if not 8000 <= note.sample_rate <= 192000:
        raise DefinitionError(f"{nw}: sample_rate {note.sample_rate} is outside 8000..192000")
    channel = _opt(_opt(data, "midi", dict, {}, where), "channel", int, 1, f"{where} [midi]")
    osc_table = _opt(data, "osc", dict, {}, where)
    tables = _opt(data, "parameters", list, None, where)
    if not tables:
        raise DefinitionError(f"{where}: no [[parameters]]; a definition needs at least one")
    parameters = tuple(
        _parse_parameter(t, channel, f"{where} parameter {i + 1}") if isinstance(t, dict)
        else _raise(f"{where}: parameter {i + 1} must be a table")
        for i, t in enumerate(tables)
    )
    names = [p.name for p in parameters]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DefinitionError(f"{where}: duplicate parameter names: {', '.join(dupes)}")
    plugin_path = None
    if kind == "vst3":
        plugin = _need(data, "plugin", dict, where)
        raw = os.path.expandvars(os.path.expanduser(_need(plugin, "path", str, f"{where} [plugin]")))
        plugin_path = Path(raw)
        if not plugin_path.is_absolute() and source is not None:
            plugin_path = source.parent / plugin_path
    known = {"name", "kind", "note", "midi", "osc", "parameters", "plugin", "description"}
    return SynthDefinition(
        name=name,
        kind=kind,
        parameters=parameters,
        note=note,
        description=_opt(data, "description", str, "", where),
        plugin_path=plugin_path,
        osc_host=_opt(osc_table, "host", str, "127.0.0.1", f"{where} [osc]"),
        osc_port=_opt(osc_table, "port", int, None, f"{where} [osc]"),
        source=source,
        sha256=sha256,
        extra={k: v for k, v in data.items() if k not in known},
    )


def _raise(message: str) -> Any:
    raise DefinitionError(message)


def load_definition(path: str | Path) -> SynthDefinition:
    """Read and validate one definition file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DefinitionError(f"{path}: no such definition file") from None
    except OSError as err:
        raise DefinitionError(f"{path}: cannot read: {err.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise DefinitionError(f"{path}: not valid TOML: {err}") from None
    return parse_definition(data, source=path.resolve(), sha256=hashlib.sha256(raw).hexdigest())


def search_path() -> list[Path]:
    """Folders searched for definitions, first match wins: $SYNTHMATCH_DEFINITIONS, the user's, the shipped."""
    folders = [Path(p) for p in os.environ.get(DEFINITIONS_PATH_VAR, "").split(os.pathsep) if p]
    config = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    folders.append(config / "synthmatch" / "synths")
    folders.append(Path(str(resources.files("synthmatch.synthdefs"))))
    return folders


def iter_definition_files() -> Iterator[Path]:
    """Every ``*.toml`` on the search path, in search order (shadowed names included)."""
    for folder in search_path():
        if folder.is_dir():
            yield from sorted(folder.glob("*.toml"))


def find_definition(name_or_path: str | Path) -> SynthDefinition:
    """A definition by name (searched on :func:`search_path`) or by path to a ``.toml`` file.

    A name is first a file's name (``NAME.toml``, first match wins), else the ``name`` a file declares inside
    (``import-vst3 --name X --out other.toml`` writes such a file).
    """
    text = str(name_or_path)
    if text.endswith(".toml") or os.sep in text:
        return load_definition(text)
    files = list(iter_definition_files())
    for path in files:
        if path.stem == text:
            return load_definition(path)
    declared = {path: _declared_name(path) for path in files}
    for path, name in declared.items():
        if name == text:
            return load_definition(path)
    names = {path.stem for path in files} | {name for name in declared.values() if name is not None}
    raise DefinitionError(f"no synth definition named {text!r}{did_you_mean(text, sorted(names))}")


def _declared_name(path: Path) -> str | None:
    """The ``name`` the definition file at ``path`` declares; None when it cannot be read (reported when loaded)."""
    try:
        name = tomllib.loads(path.read_text(encoding="utf-8")).get("name")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return name if isinstance(name, str) else None

