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
from synthmatch.params import quantise, quantise_all
from synthmatch.synths import Synth

Params = npt.NDArray[np.float64]

OUTPUT_LEVEL_NAMES = ("volume_db", "volume", "master_volume", "output_level", "level_db", "gain_db")
"""Names of a definition's output-level parameter, in order of preference (the first one present is used)."""
LEVEL_RENDERS = 8
"""The most renders the search for the output-level parameter's value may take, both ends of its range included."""
LEVEL_TOLERANCE_DB = 0.1
"""The search stops at a render this close to the target's loudness, in dB."""
LOWEST = 1.0 / 1024
"""The quietest value of the output-level parameter rendered (normalised): just above 0, often silence itself."""
SCALES = ("linear", "log")
"""Coordinates of the parameter the loudness in dB may be close to a line in: a volume in dB is linear in the
value, a volume in percent (an amplitude) in its logarithm. The search finds out which, render by render."""


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
    renders: int
    """How many notes were rendered to set the level (1 without an output-level parameter)."""


def output_level_parameter(definition: SynthDefinition) -> int | None:
    """Index of ``definition``'s output-level parameter (the first of :data:`OUTPUT_LEVEL_NAMES`), or None."""
    names = definition.parameter_names
    return next((names.index(name) for name in OUTPUT_LEVEL_NAMES if name in names), None)


def set_output_level(
    synth: Synth, params: Params, target: npt.NDArray[np.floating], note: int, by_volume: bool = True
) -> OutputLevel:
    """Bring patch ``params[P]`` to the loudness of ``target[N]`` at ``note``: its volume, then a residual gain.

    With an output-level parameter, :class:`VolumeSearch` finds the value whose render is closest in loudness to
    the target's in at most :data:`LEVEL_RENDERS` renders, one at a time; without one, or with ``by_volume`` False
    (a synth played live renders one note at a time), it renders the patch once and reports all of the level as a
    gain.
    """
    definition = synth.definition
    target_dbfs = float(loudness_db(target)[0])
    index = output_level_parameter(definition) if by_volume else None
    if index is None:
        chosen = np.asarray(params, dtype=np.float64)
        level, renders = float(loudness_db(synth.render(chosen[None], note))[0]), 1
    else:
        search = VolumeSearch(synth, params, index, note, target_dbfs)
        chosen, level = search.run()
        renders = search.renders
    gain_db = target_dbfs - level
    return OutputLevel(
        params=chosen, parameter=None if index is None else definition.parameter_names[index],
        gain_db=gain_db if math.isfinite(gain_db) else 0.0, target_loudness_dbfs=target_dbfs, renders=renders,
    )


class VolumeSearch:
    """A bracketed search over the output-level parameter for the render closest in loudness to a target.

    The loudness grows with the parameter, so its two ends bracket any reachable target. The loudest end is
    rendered first: a target at least as loud (or a patch silent even there) ends the search, clipped to it. Then
    the quietest end, :data:`LOWEST` rather than 0 (at 0 a volume is often silent by design: a silent render tells
    nothing, and a VST3 plugin takes its whole warm-up timeout to render it); a target at most as loud is
    clipped to it. Inside, regula falsi on the loudness in dB (the Illinois variant, which halves a stale end's
    weight), on the value or its logarithm (:data:`SCALES`: whichever predicted the last render better), picks the
    next value, bisection where an end is silent, until a render is within :data:`LEVEL_TOLERANCE_DB`, the bracket
    is one quantisation step wide, or :data:`LEVEL_RENDERS` notes were rendered. The closest render of all is kept.
    """

    def __init__(self, synth: Synth, params: Params, index: int, note: int, target_dbfs: float) -> None:
        self.synth, self.index, self.note, self.target_dbfs = synth, index, note, target_dbfs
        self.params = np.array(params, dtype=np.float64)
        self.tried: list[tuple[Params, float]] = []
        """Every render so far: the patch (quantised) and its loudness in dB."""

    @property
    def renders(self) -> int:
        """How many notes were rendered so far."""
        return len(self.tried)

    def run(self) -> tuple[Params, float]:
        """The quantised patch closest in loudness to the target, and its loudness in dB."""
        high, high_db = self._render(1.0)
        if high_db > self.target_dbfs:  # neither clipped at the top nor silent: look below
            low, low_db = self._render(LOWEST)
            if low_db < self.target_dbfs:
                self._bracket(low, low_db - self.target_dbfs, high, high_db - self.target_dbfs)
        # A silent render (-inf) is never the closest; for a silent target, the quietest render is.
        return min(self.tried, key=lambda tried: (abs(tried[1] - self.target_dbfs), tried[1]))

    def _bracket(self, low: float, low_err: float, high: float, high_err: float) -> None:
        """Narrow ``[low, high]`` (loudness errors in dB of opposite signs) around the target's loudness."""
        weighted = [low_err, high_err]  # the errors regula falsi draws its line through (Illinois: halved if stale)
        scale: str | None = None  # the coordinate the loudness last proved closer to a line in
        moved = ""  # the end the previous render replaced: "low" or "high"
        while self.renders < LEVEL_RENDERS:
            x = self._next_value(low, weighted[0], high, weighted[1], scale)
            if x is None:
                return
            x, level = self._render(x)
            error = level - self.target_dbfs
            if abs(error) <= LEVEL_TOLERANCE_DB:
                return
            if math.isfinite(low_err) and math.isfinite(high_err):
                scale = min(SCALES, key=lambda s: abs(_on_line(low, low_err, high, high_err, x, s) - error))
            if (error < 0) == (low_err < 0):
                low, low_err = x, error
                weighted = [error, weighted[1] / 2 if moved == "low" else weighted[1]]
                moved = "low"
            else:
                high, high_err = x, error
                weighted = [weighted[0] / 2 if moved == "high" else weighted[0], error]
                moved = "high"

    def _next_value(
        self, low: float, low_err: float, high: float, high_err: float, scale: str | None
    ) -> float | None:
        """The next value to render inside ``(low, high)`` after quantisation, or None if there is none.

        Where the line through the ends crosses the target, in ``scale``; before a scale is known, the geometric
        mean of the crossings in both; the midpoint where an end is silent or the guess quantises to an end.
        """
        guesses = []
        if math.isfinite(low_err) and math.isfinite(high_err):
            crossings = {s: _crossing(low, low_err, high, high_err, s) for s in SCALES}
            guesses.append(crossings[scale] if scale else math.sqrt(crossings["linear"] * crossings["log"]))
        for guess in (*guesses, (low + high) / 2):
            value = self._quantised(guess)
            if low < value < high:
                return value
        return None

    def _quantised(self, value: float) -> float:
        """``value`` of the output-level parameter as the synth can take it (its steps, its MIDI resolution)."""
        return float(quantise(self.synth.definition.parameters[self.index], value))

    def _render(self, value: float) -> tuple[float, float]:
        """Render the patch with the output-level parameter at ``value``: (the value quantised, loudness in dB)."""
        probe = np.array(self.params)
        probe[self.index] = value
        probe = quantise_all(self.synth.definition, probe[None])[0]
        level = float(loudness_db(self.synth.render(probe[None], self.note))[0])
        self.tried.append((probe, level))
        return float(probe[self.index]), level


def _coordinate(value: float, scale: str) -> float:
    """``value`` of the output-level parameter on ``scale``: "linear", or "log" (from :data:`LOWEST` up)."""
    return math.log(max(value, LOWEST)) if scale == "log" else value


def _crossing(low: float, low_err: float, high: float, high_err: float, scale: str) -> float:
    """Where the line through (low, low_err) and (high, high_err) on ``scale`` has error 0, as a value."""
    a, b = _coordinate(low, scale), _coordinate(high, scale)
    crossing = a + (b - a) * low_err / (low_err - high_err)
    return math.exp(crossing) if scale == "log" else crossing


def _on_line(low: float, low_err: float, high: float, high_err: float, value: float, scale: str) -> float:
    """The error the line through (low, low_err) and (high, high_err) on ``scale`` predicts at ``value``."""
    a, b, x = (_coordinate(v, scale) for v in (low, high, value))
    return low_err + (high_err - low_err) * (x - a) / (b - a)


def apply_gain(audio: npt.NDArray[np.floating], gain_db: float) -> npt.NDArray[np.float32]:
    """``audio`` times ``gain_db`` dB, as float32; what the user's fader does after the synth."""
    return (np.asarray(audio, dtype=np.float64) * 10.0 ** (gain_db / 20.0)).astype(np.float32)
