"""Any registered match method, watched: a progress report after every render and a stop between renders.

The methods of :mod:`synthmatch.match_methods` run to their budget and answer once. The daemon needs to report
each render and to stop on request, keeping the best patch, so :func:`run_watched` hands the method a
:class:`WatchedSynth`: it renders one patch at a time (a live synth plays one note at a time anyway), measures
each against the target, keeps the best by the one rule (:class:`~synthmatch.match_rules.BestSoFar`) and, when
asked to stop, ends the method by raising :class:`SearchStopped` at its next render.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from synthmatch.distances import LogSpectra, log_spectra, log_spectra_distance
from synthmatch.features import MEL_CEILING_DB, FeatureSettings, observe_mel
from synthmatch.match_methods import get_method
from synthmatch.match_rules import BestSoFar
from synthmatch.matching import MatchProgress, MatchResult, check_target_audio
from synthmatch.synths import MidiValues, Synth, WrappedSynth


class SearchStopped(Exception):
    """Raised inside a method's render when a stop was asked for; :func:`run_watched` keeps the best so far."""


class WatchedSynth(WrappedSynth):
    """``synth`` rendering row by row, each render measured against the target and reported to ``on_step``."""

    def __init__(
        self, synth: Synth, target_audio: npt.ArrayLike, on_step: Callable[[MatchProgress], None] | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        super().__init__(synth)
        self._target_spectra: LogSpectra = log_spectra(check_target_audio(synth, target_audio)[None])
        self._settings = FeatureSettings(sample_rate=synth.sample_rate)
        self._on_step = on_step
        self._should_stop = should_stop
        self.best: BestSoFar | None = None
        self.distance_start = float("nan")
        self.history: list[float] = []
        """Distance of every render after the first, in order."""

    def render(
        self, params: npt.NDArray[np.floating], note: MidiValues | None = None, velocity: MidiValues | None = None
    ) -> npt.NDArray[np.float32]:
        """The wrapped synth's audio [B, N] of ``params[B, P]``, one row at a time, each measured and reported."""
        rows = []
        for row in range(len(params)):
            if self._should_stop is not None and self._should_stop():
                raise SearchStopped
            one = params[row:row + 1]
            audio = self.synth.render(one, _row_of(note, row), _row_of(velocity, row))
            self._record(np.asarray(one[0], dtype=np.float64), audio)
            rows.append(audio)
        return np.concatenate(rows)

    def _record(self, params: npt.NDArray[np.float64], audio: npt.NDArray[np.float32]) -> None:
        """Measure one render, keep the best, report it (the first render is the start, not a step)."""
        distance = float(log_spectra_distance(self._target_spectra, log_spectra(audio))[0])
        if self.best is None:
            self.best, self.distance_start = BestSoFar.start(params, distance), distance
            return
        self.best, improved = self.best.update(params, distance)
        self.history.append(distance)
        if self._on_step is not None:
            self._on_step(MatchProgress(
                step=len(self.history), params=params, distance=distance, best_distance=float(self.best.distance),
                improved=bool(improved), mel=observe_mel(audio, self._settings, MEL_CEILING_DB)[0],
                distance_start=self.distance_start, phase="search",
            ))


def _row_of(values: MidiValues | None, row: int) -> MidiValues | None:
    """The note or velocity of ``row`` when one is given per row; one for all rows as it is."""
    if values is None or isinstance(values, int | np.integer):
        return values
    return np.asarray(values)[row:row + 1]


def run_watched(
    method: str, synth: Synth, target_audio: npt.NDArray[np.float32], note: int, budget: int,
    rng: np.random.Generator, model_dir: Path | None = None, on_step: Callable[[MatchProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> MatchResult:
    """Run the registered ``method`` on ``synth`` within ``budget``, reporting every render after the start.

    A stop (``should_stop`` answering True) ends it before its next render; the result is then the best so far.
    """
    function = get_method(method)
    began = time.perf_counter()
    watched = WatchedSynth(synth, target_audio, on_step, should_stop)
    try:
        result = function(watched, target_audio, note, budget, rng, model_dir)
    except SearchStopped:
        if watched.best is None:
            raise
        return MatchResult(
            params=watched.best.params, distance_start=watched.distance_start, distance=float(watched.best.distance),
            renders=len(watched.history) + 1, seconds=time.perf_counter() - began, steps=len(watched.history),
            note=note, method=method, history=watched.history,
        )
    return result
