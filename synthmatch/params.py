"""Map the agent's normalised [0, 1] values to a synth's units and to each transport's integers, and back.

This is the one place where curves (linear, log, steps) and transport resolutions (7-bit CC, 14-bit CC,
NRPN, OSC ranges) are applied. Every function takes scalars or numpy arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # only the types: synthmatch.definitions imports this module, never the other way round
    from synthmatch.definitions import MidiTransport, OscTransport, Parameter, SynthDefinition

ArrayLike = npt.ArrayLike


def _clip01(x: ArrayLike) -> npt.NDArray[np.float64]:
    return np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)


def step_index(param: Parameter, x: ArrayLike) -> npt.NDArray[np.int64]:
    """Index of the step that normalised ``x`` selects on a ``steps`` parameter (nearest of evenly spaced)."""
    return np.rint(_clip01(x) * (param.steps - 1)).astype(np.int64)


def denormalise(param: Parameter, x: ArrayLike) -> npt.NDArray[np.float64]:
    """Normalised [0, 1] (clipped) to the parameter's units, following its curve."""
    x = _clip01(x)
    if param.curve == "log":
        return np.asarray(param.min * (param.max / param.min) ** x)
    if param.curve == "steps":
        x = step_index(param, x) / (param.steps - 1)
    return np.asarray(param.min + (param.max - param.min) * x)


def normalise(param: Parameter, value: ArrayLike) -> npt.NDArray[np.float64]:
    """The parameter's units (clipped to its range) to normalised [0, 1]; inverse of :func:`denormalise`."""
    v = np.clip(np.asarray(value, dtype=np.float64), param.min, param.max)
    if param.curve == "log":
        return np.asarray(np.log(v / param.min) / np.log(param.max / param.min))
    x = (v - param.min) / (param.max - param.min)
    if param.curve == "steps":
        x = step_index(param, x) / (param.steps - 1)
    return np.asarray(x)


def to_midi(param: Parameter, x: ArrayLike) -> npt.NDArray[np.int64]:
    """Normalised [0, 1] to the integer value sent over MIDI (7-bit, 14-bit or NRPN range of the definition).

    A continuous parameter maps linearly in normalised space onto ``midi.min..midi.max`` (the synth applies
    its own curve to the controller); a stepped one sends its step's entry of ``midi.values`` or spreads the
    steps evenly over the range.
    """
    midi = _require_midi(param)
    if param.curve == "steps":
        index = step_index(param, x)
        if midi.values is not None:
            return np.asarray(midi.values, dtype=np.int64)[index]
        x = index / (param.steps - 1)
    lo, hi = midi.min, midi.max
    return np.rint(lo + (hi - lo) * _clip01(x)).astype(np.int64)


def from_midi(param: Parameter, value: ArrayLike) -> npt.NDArray[np.float64]:
    """Integer MIDI value back to normalised [0, 1]; values outside the range are clipped to it."""
    midi = _require_midi(param)
    v = np.asarray(value, dtype=np.float64)
    if param.curve == "steps" and midi.values is not None:
        table = np.asarray(midi.values, dtype=np.float64)
        index = np.abs(v[..., None] - table).argmin(axis=-1)
        return np.asarray(index / (param.steps - 1))
    lo, hi = midi.min, midi.max
    x = _clip01((v - lo) / (hi - lo))
    return np.asarray(step_index(param, x) / (param.steps - 1)) if param.curve == "steps" else x


def to_osc(param: Parameter, x: ArrayLike) -> npt.NDArray[np.float64]:
    """Normalised [0, 1] to the value sent over OSC.

    When the OSC range equals the parameter's range the value is in units (the curve applies); otherwise the
    normalised value is spread linearly over the OSC range. Integer OSC values are rounded.
    """
    osc = _require_osc(param)
    if (osc.min, osc.max) == (param.min, param.max):
        out = denormalise(param, x)
    else:
        out = np.asarray(osc.min + (osc.max - osc.min) * _clip01(x))
    return np.rint(out) if osc.type == "i" else out


def from_osc(param: Parameter, value: ArrayLike) -> npt.NDArray[np.float64]:
    """Value received or sent over OSC back to normalised [0, 1]; inverse of :func:`to_osc`."""
    osc = _require_osc(param)
    if (osc.min, osc.max) == (param.min, param.max):
        return normalise(param, value)
    return _clip01((np.asarray(value, dtype=np.float64) - osc.min) / (osc.max - osc.min))


def quantise(param: Parameter, x: ArrayLike) -> npt.NDArray[np.float64]:
    """Normalised value snapped to what the parameter can really take: its steps and its MIDI resolution.

    What the daemon sends is what it assumes the synth now has, so the agent sees the quantised value.
    """
    if param.midi is not None:
        return from_midi(param, to_midi(param, x))
    if param.curve == "steps":
        return np.asarray(step_index(param, x) / (param.steps - 1))
    if param.osc is not None and param.osc.type == "i":
        return from_osc(param, to_osc(param, x))
    return _clip01(x)


def quantise_all(definition: SynthDefinition, x: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """:func:`quantise` applied to each column of ``x[..., P]``."""
    x = np.asarray(x, dtype=np.float64)
    return np.stack([quantise(p, x[..., i]) for i, p in enumerate(definition.parameters)], axis=-1)


def denormalise_all(definition: SynthDefinition, x: npt.NDArray[np.floating]) -> dict[str, float]:
    """One patch ``x[P]`` in normalised space to ``{name: value in units}``."""
    return {p.name: float(denormalise(p, x[i])) for i, p in enumerate(definition.parameters)}


def normalise_all(definition: SynthDefinition, values: dict[str, float]) -> npt.NDArray[np.float64]:
    """``{name: value in units}`` to a normalised vector; parameters not given take their default."""
    unknown = set(values) - set(definition.parameter_names)
    if unknown:
        raise KeyError(f"{definition.name} has no parameter(s) {', '.join(sorted(unknown))}")
    return np.array([float(normalise(p, values.get(p.name, p.default))) for p in definition.parameters])


def _require_midi(param: Parameter) -> MidiTransport:
    if param.midi is None:
        raise ValueError(f"parameter {param.name!r} has no MIDI transport in its definition")
    return param.midi


def _require_osc(param: Parameter) -> OscTransport:
    if param.osc is None:
        raise ValueError(f"parameter {param.name!r} has no OSC address in its definition")
    return param.osc
