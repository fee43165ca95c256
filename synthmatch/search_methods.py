"""The search methods: random search and CMA-ES on the synth itself, no model, no torch.

Both start from the definition's default patch, as the agent does, so ``distance_start`` is the same for every
method on a target, and spend ``budget`` renders after the start's, as the agent's ``budget`` steps do. Every
render is quantised as the synth receives it and the best patch seen is kept by the one rule for it
(:class:`synthmatch.match_rules.BestSoFar`). CMA-ES (the pure-Python ``cma`` package, imported
only when a CMA-ES search runs) renders each generation in one ``synth.render`` call; random search renders
RENDER_CHUNK patches per call. The registry of every method is :mod:`synthmatch.match_methods`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synthmatch.distances import LogSpectra, log_spectra, log_spectra_distance
from synthmatch.match_rules import BestSoFar
from synthmatch.matching import MatchResult, Params, check_target_audio, start_patch
from synthmatch.params import quantise_all
from synthmatch.polish import Polish
from synthmatch.synths import Synth

#: Step size of CMA-ES from the default patch, in normalised units (a quarter of each parameter's range).
CMAES_SIGMA = 0.25
#: Patches random search renders per synth.render call.
RENDER_CHUNK = 64


@dataclass
class SearchLog:
    """A search in progress: the target's spectra, every render counted, the best patch and its distance so far."""

    synth: Synth
    note: int
    target_spectra: LogSpectra
    began: float
    """``time.perf_counter()`` when the match began."""
    best: BestSoFar
    """The best patch so far and its distance, the start's included."""
    distance_start: float
    renders: int = 0
    history: list[float] = field(default_factory=list)
    """Distance of every render after the first, in order."""

    @classmethod
    def start(
        cls, synth: Synth, target_audio: npt.ArrayLike, note: int, params: Params, began: float | None = None
    ) -> SearchLog:
        """Begin a search of ``target_audio[N]`` by rendering ``params[P]`` (normalised), the start patch.

        ``began`` is when the match began (``time.perf_counter()``), now by default.
        """
        target = check_target_audio(synth, target_audio)[None]
        start = quantise_all(synth.definition, np.clip(params, 0.0, 1.0))
        target_spectra = log_spectra(target)
        distance = float(log_spectra_distance(target_spectra, log_spectra(synth.render(start[None], note)))[0])
        return cls(synth=synth, note=note, target_spectra=target_spectra,
                   began=time.perf_counter() if began is None else began, best=BestSoFar.start(start, distance),
                   distance_start=distance, renders=1)

    @classmethod
    def resume(cls, synth: Synth, target_audio: npt.ArrayLike, result: MatchResult, began: float) -> SearchLog:
        """Carry on from ``result`` (its renders, best patch and history count) to search further."""
        target = check_target_audio(synth, target_audio)[None]
        return cls(
            synth=synth, note=result.note, target_spectra=log_spectra(target), began=began,
            best=BestSoFar.start(result.params, result.distance), distance_start=result.distance_start,
            renders=result.renders, history=list(result.history),
        )

    def evaluate(self, params: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """Quantise and render ``params[B, P]`` in one call -> primary distances [B]; keeps the best, counts B."""
        patches = quantise_all(self.synth.definition, np.clip(params, 0.0, 1.0))
        distances = log_spectra_distance(self.target_spectra, log_spectra(self.synth.render(patches, self.note)))
        self.renders += len(patches)
        self.history.extend(float(d) for d in distances)
        closest = int(np.argmin(distances))
        self.best, _ = self.best.update(patches[closest], distances[closest])
        return distances

    def result(self, method: str) -> MatchResult:
        """The search's outcome as a MatchResult, timed up to now."""
        return MatchResult(
            params=self.best.params, distance_start=self.distance_start, distance=float(self.best.distance),
            renders=self.renders, seconds=time.perf_counter() - self.began, steps=len(self.history),
            note=self.note, method=method, history=self.history,
        )


def check_budget(method: str, budget: int) -> None:
    """A ValueError unless ``budget`` is an int >= 1."""
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget < 1:
        raise ValueError(f"{method}: budget {budget!r} must be an int >= 1 (agent steps or renders)")


def random_search(
    synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
    model_dir: Path | None = None,
) -> MatchResult:
    """The default patch, then ``budget`` patches uniform in [0, 1]^P (quantised); the best is kept."""
    check_budget("random", budget)
    log = SearchLog.start(synth, target_audio, note, start_patch(synth, None))
    remaining = budget
    while remaining > 0:
        chunk = min(remaining, RENDER_CHUNK)
        log.evaluate(rng.random((chunk, len(synth.parameters))))
        remaining -= chunk
    return log.result("random")


def cmaes_search(
    synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
    model_dir: Path | None = None,
) -> MatchResult:
    """CMA-ES from the default patch (sigma CMAES_SIGMA, bounds [0, 1]): ``budget`` renders after the start's."""
    check_budget("cmaes", budget)
    start = start_patch(synth, None)
    log = SearchLog.start(synth, target_audio, note, start)
    refine_with_cmaes(log, start, CMAES_SIGMA, budget, rng)
    return log.result("cmaes")


def refine_with_cmaes(
    log: SearchLog, x0: Params, sigma0: float, renders: int, rng: np.random.Generator
) -> None:
    """Spend up to ``renders`` renders on CMA-ES from ``x0[P]`` with step ``sigma0``, inside [0, 1], into ``log``.

    The population is cma's default (4 + 3 ln P, 12 for 20 parameters), or ``renders`` if smaller; each
    generation is rendered in one call. The last generation is cut to the renders left (and not told to
    CMA-ES). CMA-ES may stop early once converged (a plateau of quantised patches), leaving renders unspent.
    """
    if renders <= 0:
        return
    default_popsize = 4 + int(3 * np.log(len(x0)))
    options = {
        "bounds": [0.0, 1.0], "seed": int(rng.integers(1, 2**31 - 1)), "verbose": -9,
        "popsize": max(2, min(default_popsize, renders)),
    }
    strategy = cma_module().CMAEvolutionStrategy(np.asarray(x0, dtype=np.float64), sigma0, options)
    while renders > 0 and not strategy.stop():
        candidates = strategy.ask()
        distances = log.evaluate(np.array(candidates[:renders]))
        if len(candidates) <= renders:
            strategy.tell(candidates, distances.tolist())
        renders -= len(distances)


def refine_with_polish(log: SearchLog, renders: int, rng: np.random.Generator) -> None:
    """Spend ``renders`` renders, one at a time, on the polish (:class:`synthmatch.polish.Polish`, a (1+1)-ES)
    around the log's best patch."""
    search = Polish(log.synth.definition)
    for _ in range(renders):
        before = float(log.best.distance)
        log.evaluate(search.propose(log.best.params, rng)[None])
        search.adapt(float(log.best.distance) < before)


def cma_module() -> Any:
    """The ``cma`` package, imported on first use: it takes seconds, which a match with the agent need not pay."""
    with warnings.catch_warnings():  # cma warns on import that matplotlib (for its plots) is missing
        warnings.simplefilter("ignore")
        import cma
    return cma
