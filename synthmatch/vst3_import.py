"""`synthmatch import-vst3 PLUGIN.vst3 --out DEF.toml`: a synth definition from a VST3 instrument's parameters.

Each plugin parameter is read the way :mod:`synthmatch.synths.vst3` binds it: the plugin's display text at
RAW_GRID raw values. A parameter shown as numbers becomes a continuous one (its range and unit as shown, ``log``
when the display grows geometrically); a boolean, a parameter shown as text, or one with a few discrete values
becomes ``steps`` with the plugin's texts as labels. Only automatable parameters are taken unless ``--all``;
the MIDI-controller stand-ins some frameworks add (``midi_ch_1_cc_0``...) never are. The file is written with
:mod:`synthmatch.definition_writer`, so it loads as written and opens as a synth at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synthmatch.definition_writer import write_definition
from synthmatch.definitions import Curve, NoteSettings, Parameter, SynthDefinition, load_definition
from synthmatch.synths import SynthUnavailable
from synthmatch.synths.vst3 import (
    _NUMBER,
    MIDI_STAND_IN,
    RAW_GRID,
    _runs,
    load_instrument,
    to_python_parameter_name,
)

#: A discrete parameter with at most this many values becomes ``steps`` even when its values are numbers.
MAX_NUMBERED_STEPS = 16
#: A parameter shown as text with more values than this is left out (no sensible labels): said on stderr.
MAX_LABELS = 128
#: Note settings of an imported plugin: most plugins expect 44.1 kHz; the rest are the format's defaults.
IMPORTED_NOTE = NoteSettings(sample_rate=44100)


def run_import_vst3(args: argparse.Namespace) -> int:
    """Write the definition of ``args.plugin`` to ``args.out``; print what was taken and what was left out."""
    definition, skipped = import_vst3(args.plugin, args.name or args.out.stem, include_all=args.all)
    write_definition(definition, args.out, comment=(
        f"Imported from {args.plugin} by `synthmatch import-vst3`; check ranges, defaults and the [note] table.\n"
        "See docs/definitions.md."
    ))
    load_definition(args.out)  # what was written loads as written
    for name, why in skipped:
        print(f"left out {name!r}: {why}", file=sys.stderr)
    print(f"{args.out}: {definition.name}, {len(definition.parameters)} parameters "
          f"({sum(p.curve == 'steps' for p in definition.parameters)} stepped), {len(skipped)} left out",
          file=sys.stderr)
    return 0


def import_vst3(
    plugin_path: Path, name: str, include_all: bool = False
) -> tuple[SynthDefinition, list[tuple[str, str]]]:
    """The definition of the VST3 instrument at ``plugin_path``, and ``(parameter, why)`` for each one left out.

    A SynthUnavailable when the file is not a loadable VST3 instrument (an effect, another format, missing).
    """
    path = Path(plugin_path).expanduser().resolve()
    if path.suffix.lower() != ".vst3" or not path.exists():
        raise SynthUnavailable(f"{plugin_path}: not a VST3 plugin (give the path of a .vst3 bundle or file)")
    plugin = load_instrument(path)
    parameters: list[Parameter] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for plugin_parameter in plugin._parameters:
        python_name = to_python_parameter_name(plugin_parameter)
        if not python_name or MIDI_STAND_IN.match(python_name) or python_name in seen:
            continue
        seen.add(python_name)
        if not (include_all or plugin_parameter.is_automatable):
            skipped.append((python_name, "not automatable (--all takes it)"))
            continue
        parameter = read_parameter(python_name, plugin_parameter)
        if isinstance(parameter, str):
            skipped.append((python_name, parameter))
        else:
            parameters.append(parameter)
    if not parameters:
        raise SynthUnavailable(f"{path}: {plugin.name} has no parameter synthmatch can turn; nothing to match with")
    definition = SynthDefinition(
        name=name, kind="vst3", parameters=tuple(parameters), note=IMPORTED_NOTE, plugin_path=path,
        description=f"{plugin.name}, VST3 through pedalboard (imported by synthmatch import-vst3)",
    )
    return definition, skipped


def read_parameter(name: str, plugin_parameter: Any) -> Parameter | str:
    """The definition parameter of one plugin parameter, or why it was left out."""
    texts = [plugin_parameter.get_text_for_raw_value(float(r)).strip() for r in RAW_GRID]
    runs = _runs(texts)
    default_raw = float(plugin_parameter.default_raw_value)
    unit = str(plugin_parameter.label).strip()
    numbers = [_NUMBER.search(text) for text in texts]
    few = plugin_parameter.is_boolean or (plugin_parameter.is_discrete and len(runs) <= MAX_NUMBERED_STEPS)
    if len(runs) < 2:
        return f"shows one value only ({texts[0]!r})"
    if few or not all(numbers):
        if len(runs) > MAX_LABELS:
            return f"shown as text with {len(runs)} values, too many to label"
        labels = unique_labels([text for text, _ in runs])
        default = int(np.argmin([abs(raw - default_raw) for _, raw in runs]))
        return Parameter(name=name, min=0, max=len(labels) - 1, default=default, curve="steps", labels=labels,
                         unit=unit, plugin_name=name)
    values = np.array([float(m.group()) for m in numbers if m is not None])
    low, high = float(values.min()), float(values.max())
    shown = _NUMBER.search(plugin_parameter.get_text_for_raw_value(default_raw))
    shown_default = float(shown.group()) if shown else float(values[int(np.argmin(np.abs(RAW_GRID - default_raw)))])
    return Parameter(name=name, min=low, max=high, default=min(max(shown_default, low), high),
                     curve=display_curve(values), unit=unit, plugin_name=name)


def display_curve(values: npt.NDArray[np.float64]) -> Curve:
    """"log" when the values shown over RAW_GRID grow geometrically (a frequency or time knob's), else "linear"."""
    low, middle, high = float(values.min()), float(values[len(values) // 2]), float(values.max())
    if low <= 0.0 or high / low < 10.0 or middle <= 0.0:
        return "linear"
    geometric, arithmetic = np.sqrt(low * high), (low + high) / 2
    return "log" if abs(np.log(middle / geometric)) < abs(np.log(middle / arithmetic)) else "linear"


def unique_labels(texts: list[str]) -> tuple[str, ...]:
    """``texts`` with a repeated one numbered ("Off", "Off 2"), so every step has its own label."""
    labels: list[str] = []
    for text in texts:
        label, count = text or "value", 1
        while label in labels:
            count += 1
            label = f"{text or 'value'} {count}"
        labels.append(label)
    return tuple(labels)
