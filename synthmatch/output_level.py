"""Set the matched patch's output level, after the timbre was matched at equal loudness.

Matching ignores level (:mod:`synthmatch.loudness`); this step gives it back. When the definition has an
output-level parameter (found by name, :data:`OUTPUT_LEVEL_NAMES`), it is set to the value whose render is
closest in loudness to the target; whatever is left over, or all of it for a synth without one, is reported as
a gain in dB to apply after the synth. The exact definition is in docs/metrics.md ("Output level").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthmatch.definitions import SynthDefinition
from synthmatch.loudness import loudness_db
from synthmatch.params import quantise_all
from synthmatch.synths import Synth

Params = npt.NDArray[np.float64]

OUTPUT_LEVEL_NAMES = ("volume_db", "volume", "master_volume", "output_level", "level_db", "gain_db")
"""Names of a definition's output-level parameter, in order of preference (the first one present is used)."""
LEVEL_PROBES = 33
"""Values of the output-level parameter tried, evenly spaced over its normalised range (one batch of renders)."""


@dataclass(frozen=True)
class OutputLevel:
    """The patch at the target's loudness, and the gain still to apply after the synth."""

    params: Params
    """The patch [P], normalised and quantised, with the output-level parameter set (if there is one)."""
    parameter: str | None
    """Name of the output-level parameter that was set, None if the definition has none."""
    gain_db: float
    """Gain to apply after the synth, in dB: target loudness minus the patch's (0 when either is silent)."""
    target_loudness_dbfs: float
    """The target's loudness (synthmatch.loudness.loudness_db), in dB re full scale."""


def output_level_parameter(definition: SynthDefinition) -> int | None:
    """Index of ``definition``'s output-level parameter (the first of :data:`OUTPUT_LEVEL_NAMES`), or None."""
    names = definition.parameter_names
    return next((names.index(name) for name in OUTPUT_LEVEL_NAMES if name in names), None)


def set_output_level(
    synth: Synth, params: Params, target: npt.NDArray[np.floating], note: int, by_volume: bool = True
) -> OutputLevel:
    """Bring patch ``params[P]`` to the loudness of ``target[N]`` at ``note``: its volume, then a residual gain.

    Renders :data:`LEVEL_PROBES` values of the output-level parameter in one batch and keeps the one whose
    loudness is closest to the target's; without such a parameter, or with ``by_volume`` False (a synth played
    live renders one note at a time), it renders the patch once and reports all of the level as a gain.
    """
    definition = synth.definition
    target_dbfs = float(loudness_db(target)[0])
    index = output_level_parameter(definition) if by_volume else None
    probes = np.array(params, dtype=np.float64)[None]
    if index is not None:
        probes = np.repeat(probes, LEVEL_PROBES, axis=0)
        probes[:, index] = np.linspace(0.0, 1.0, LEVEL_PROBES)
        probes = quantise_all(definition, probes)
    levels = loudness_db(synth.render(probes, note))
    best = int(np.argmin(np.abs(levels - target_dbfs)))  # a silent probe (-inf) is never the closest
    gain_db = target_dbfs - float(levels[best])
    return OutputLevel(
        params=probes[best], parameter=None if index is None else definition.parameter_names[index],
        gain_db=gain_db if math.isfinite(gain_db) else 0.0, target_loudness_dbfs=target_dbfs,
    )


def apply_gain(audio: npt.NDArray[np.floating], gain_db: float) -> npt.NDArray[np.float32]:
    """``audio`` times ``gain_db`` dB, as float32; what the user's fader does after the synth."""
    return (np.asarray(audio, dtype=np.float64) * 10.0 ** (gain_db / 20.0)).astype(np.float32)
