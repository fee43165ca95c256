"""Synth backends behind one small interface: ``parameters`` and ``render(params[B, P], note, velocity)``.

The environment, the evaluation, the baselines and the daemon talk to :class:`Synth` and nothing else.
:func:`open_synth` builds the backend that a definition's ``kind`` names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from synthmatch.definitions import Parameter, SynthDefinition, find_definition


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
        self, params: npt.NDArray[np.floating], note: int | None = None, velocity: int | None = None
    ) -> npt.NDArray[np.float32]:
        """Render one note per row of ``params[B, P]`` (normalised [0, 1]) -> ``audio[B, N]`` float32, mono.

        ``note`` and ``velocity`` default to the definition's; N is the definition's render length. The same
        parameters always give the same audio and nothing carries over from one call to the next.
        """
        ...


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
