"""Synth backends behind one small interface: ``parameters`` and ``render(params[B, P], notes, velocities)``.

The environment, the evaluation, the baselines and the daemon talk to :class:`Synth` and nothing else.
:func:`open_synth` builds the backend that a definition's ``kind`` names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt

from synthmatch.definitions import Parameter, SynthDefinition, find_definition

MidiValues: TypeAlias = int | Sequence[int] | npt.NDArray[np.integer]
"""A MIDI note or velocity for every row (an int), or one per row (a sequence or integer array ``[B]``)."""


@runtime_checkable
class Synth(Protocol):
    """A synth that renders notes in-process from normalised parameters."""

    definition: SynthDefinition

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        """The parameters, in the order of the columns of ``params``."""
        ...

    @property
    def sample_rate(self) -> int:
        """Sample rate of the rendered audio in Hz."""
        ...

    def render(
        self, params: npt.NDArray[np.floating], note: MidiValues | None = None, velocity: MidiValues | None = None
    ) -> npt.NDArray[np.float32]:
        """Render one note per row of ``params[B, P]`` (normalised [0, 1]) -> ``audio[B, N]`` float32, mono.

        ``note`` and ``velocity`` are one int for every row or one per row (``[B]``), checked by
        :func:`check_notes`, and default to the definition's; N is the definition's render length. The same
        parameters and note always give the same audio, whatever else is in the batch, and nothing carries
        over from one call to the next.
        """
        ...


class DefinitionSynth:
    """What the backends share: parameters and sample rate come from the synth's definition."""

    definition: SynthDefinition

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        """The definition's parameters, in the order of the columns of ``params``."""
        return self.definition.parameters

    @property
    def sample_rate(self) -> int:
        """Sample rate of the audio in Hz: the definition's."""
        return self.definition.note.sample_rate


class WrappedSynth(DefinitionSynth):
    """A synth around another: the same definition and sample rate; a subclass changes how or where it renders."""

    def __init__(self, synth: Synth) -> None:
        self.synth = synth
        self.definition = synth.definition

    @property
    def sample_rate(self) -> int:
        """The wrapped synth's sample rate in Hz."""
        return self.synth.sample_rate


class SynthUnavailable(RuntimeError):
    """A synth cannot be opened here (no plugin file, an external synth asked to render in-process, ...)."""


def _open_builtin(definition: SynthDefinition) -> Synth:
    from synthmatch.synths.builtin import BuiltinSynth

    return BuiltinSynth(definition)


def _open_vst3(definition: SynthDefinition) -> Synth:
    from synthmatch.synths.vst3 import Vst3Synth

    return Vst3Synth(definition)


def _open_external(definition: SynthDefinition) -> Synth:
    raise SynthUnavailable(
        f"{definition.name} is an external synth: it is played live over MIDI/OSC and recorded by the daemon, "
        "it cannot render in-process; train on a builtin or vst3 synth with the same parameters instead"
    )


BACKENDS: dict[str, Callable[[SynthDefinition], Synth]] = {
    "builtin": _open_builtin,
    "vst3": _open_vst3,
    "external": _open_external,
}


def open_synth(synth: str | Path | SynthDefinition) -> Synth:
    """The in-process backend for a definition, given as a definition, a name, or a path to a TOML file."""
    definition = synth if isinstance(synth, SynthDefinition) else find_definition(synth)
    return BACKENDS[definition.kind](definition)


def check_params(definition: SynthDefinition, params: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``params`` as a float64 array ``[B, P]`` in [0, 1]; a clear ValueError for a wrong shape or NaN."""
    array = np.asarray(params, dtype=np.float64)
    if array.ndim == 1:
        array = array[None, :]
    count = len(definition.parameters)
    if array.ndim != 2 or array.shape[1] != count:
        raise ValueError(
            f"{definition.name} takes params of shape [batch, {count}] "
            f"({', '.join(definition.parameter_names)}), got {np.shape(params)}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{definition.name}: params contain NaN or infinity")
    return np.clip(array, 0.0, 1.0)


def check_notes(
    definition: SynthDefinition, note: MidiValues | None, velocity: MidiValues | None, count: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The note (0..127) and velocity (1..127) of each of ``count`` rows: two int64 arrays ``[count]``.

    Each is an int for every row or one integer per row, and None means the definition's ``[note]`` setting;
    a clear ValueError names the synth, the bad value (and its row) and the valid range or shape.
    """
    settings = definition.note
    notes = _midi_values(definition, settings.midi_note if note is None else note, "note", count, 0)
    velocities = _midi_values(definition, settings.velocity if velocity is None else velocity, "velocity", count, 1)
    return notes, velocities


def _midi_values(
    definition: SynthDefinition, value: MidiValues, name: str, count: int, lowest: int
) -> npt.NDArray[np.int64]:
    """``value`` (an int or ``[count]`` integers, each in lowest..127) broadcast to int64 ``[count]``."""
    array = np.asarray(value)
    kind = f"an integer in {lowest}..127 or an integer array of shape ({count},), one per row of params"
    if array.dtype == np.bool_ or array.dtype.kind not in "iu" or array.ndim > 1:
        raise ValueError(f"{definition.name}: {name} {value!r} must be {kind}")
    if array.ndim == 1 and array.shape != (count,):
        raise ValueError(f"{definition.name}: {name} has shape {array.shape}, expected an integer in "
                         f"{lowest}..127 or shape ({count},), one per row of params")
    bad = np.flatnonzero((array < lowest) | (array > 127))
    if bad.size:
        where = f" (row {bad[0]})" if array.ndim == 1 else ""
        raise ValueError(f"{definition.name}: {name} {array.reshape(-1)[bad[0]]}{where} is outside the MIDI "
                         f"range {lowest}..127")
    return np.broadcast_to(array.astype(np.int64), (count,)).copy()
