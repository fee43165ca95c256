"""The methods a match is measured against, all behind one signature and all answering with a MatchResult.

Every method gets ``(synth, target_audio[N], note, budget, rng, model_dir)`` and returns a
:class:`~synthmatch.matching.MatchResult` whose ``renders`` counts every note it rendered, the start included:

============== ================================================================= ========================
method         what it does                                                      renders for budget K
============== ================================================================= ========================
agent          the exported agent, K steps from the default patch                K + 1 (start + K steps)
random         the default patch, then K - 1 uniform random patches; best kept   K
cmaes          the default patch, then CMA-ES (the ``cma`` package) from it      <= K (stops if converged)
oneshot        the one-shot regressor's patch (``oneshot.onnx``), budget unused  1
agent+refine   the agent for K - K // 4 steps, then CMA-ES around its best       K + 1, like the agent
               (sigma REFINE_SIGMA) for the last K // 4 renders
============== ================================================================= ========================

The search methods start where the agent starts, from the definition's default patch, so ``distance_start`` is
the same for every method on a target (the one-shot regressor has no start: its ``distance_start`` is its
``distance``). Every render is quantised as the synth receives it, and the best patch seen is kept. CMA-ES
renders each generation in one ``synth.render`` call; random search renders RENDER_CHUNK patches per call.
"""

from __future__ import annotations

import difflib
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

with warnings.catch_warnings():  # cma warns on import that matplotlib (for its plots) is missing
    warnings.simplefilter("ignore")
    import cma

from synthmatch.agent import OnnxAgent, OnnxModel, OnnxOneShot, default_model_dir
from synthmatch.definitions import SynthDefinition
from synthmatch.distances import LogSpectra, log_spectra, log_spectra_distance
from synthmatch.matching import MatchResult, check_target_audio, match_with_agent, start_patch
from synthmatch.params import quantise_all
from synthmatch.synths import Synth

Params = npt.NDArray[np.float64]
Audio = npt.NDArray[np.float32]

#: Step size of CMA-ES from the default patch, in normalised units (a quarter of each parameter's range).
CMAES_SIGMA = 0.25
#: Share of agent+refine's budget that goes to the refinement (rounded down); the agent takes the rest.
REFINE_FRACTION = 0.25
#: Step size of the refinement around the agent's best patch: half the agent's largest step (0.1).
REFINE_SIGMA = 0.05
#: Steps agent+search tries at every step: the agent's and 7 variations (8 renders a step).
SEARCH_CANDIDATES = 8
#: Patches random search renders per synth.render call.
RENDER_CHUNK = 64


class MethodFn(Protocol):
    """A matching method: match ``target_audio[N]`` at ``note`` within ``budget`` steps or renders."""

    def __call__(
        self, synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
        model_dir: Path | None,
    ) -> MatchResult:
        """The best patch found; ``model_dir`` None means the synth's shipped model (methods that need one)."""
        ...


@dataclass
class SearchLog:
    """A search in progress: the target's spectra, every render counted, the best patch and its distance so far."""

    synth: Synth
    note: int
    target_spectra: LogSpectra
    began: float
    """``time.perf_counter()`` when the match began."""
    best_params: Params = field(default_factory=lambda: np.empty(0))
    best_distance: float = np.inf
    distance_start: float = np.nan
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
        log = cls(synth=synth, note=note, target_spectra=log_spectra(target),
                  began=time.perf_counter() if began is None else began)
        log.distance_start = float(log.measure(params[None])[0])
        return log

    @classmethod
    def resume(cls, synth: Synth, target_audio: npt.ArrayLike, result: MatchResult, began: float) -> SearchLog:
        """Carry on from ``result`` (its renders, best patch and history count) to search further."""
        target = check_target_audio(synth, target_audio)[None]
        return cls(
            synth=synth, note=result.note, target_spectra=log_spectra(target), began=began,
            best_params=result.params, best_distance=result.distance, distance_start=result.distance_start,
            renders=result.renders, history=list(result.history),
        )

    def evaluate(self, params: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """:meth:`measure` ``params[B, P]`` and add their distances [B] to the history."""
        distances = self.measure(params)
        self.history.extend(float(d) for d in distances)
        return distances

    def measure(self, params: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """Quantise and render ``params[B, P]`` in one call -> primary distances [B]; keeps the best, counts B."""
        patches = quantise_all(self.synth.definition, np.clip(params, 0.0, 1.0))
        distances = log_spectra_distance(self.target_spectra, log_spectra(self.synth.render(patches, self.note)))
        self.renders += len(patches)
        best = int(np.argmin(distances))
        if distances[best] < self.best_distance:
            self.best_params, self.best_distance = patches[best], float(distances[best])
        return distances

    def result(self, method: str) -> MatchResult:
        """The search's outcome as a MatchResult, timed up to now."""
        return MatchResult(
            params=self.best_params, distance_start=self.distance_start, distance=self.best_distance,
            renders=self.renders, seconds=time.perf_counter() - self.began, steps=len(self.history),
            note=self.note, method=method, history=self.history,
        )


def random_search(
    synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
    model_dir: Path | None = None,
) -> MatchResult:
    """The default patch, then ``budget - 1`` patches uniform in [0, 1]^P (quantised); the best is kept."""
    check_budget("random", budget)
    log = SearchLog.start(synth, target_audio, note, start_patch(synth, None))
    remaining = budget - 1
    while remaining > 0:
        chunk = min(remaining, RENDER_CHUNK)
        log.evaluate(rng.random((chunk, len(synth.parameters))))
        remaining -= chunk
    return log.result("random")


def cmaes_search(
    synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
    model_dir: Path | None = None,
) -> MatchResult:
    """CMA-ES from the default patch (sigma CMAES_SIGMA, bounds [0, 1]): ``budget`` renders, the start included."""
    check_budget("cmaes", budget)
    start = start_patch(synth, None)
    log = SearchLog.start(synth, target_audio, note, start)
    refine_with_cmaes(log, start, CMAES_SIGMA, budget - 1, rng)
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
    strategy = cma.CMAEvolutionStrategy(np.asarray(x0, dtype=np.float64), sigma0, options)
    while renders > 0 and not strategy.stop():
        candidates = strategy.ask()
        distances = log.evaluate(np.array(candidates[:renders]))
        if len(candidates) <= renders:
            strategy.tell(candidates, distances.tolist())
        renders -= len(distances)


def agent_search(
    synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
    model_dir: Path | None = None,
) -> MatchResult:
    """The exported agent in ``model_dir`` (or the shipped one), ``budget`` steps from the default patch."""
    check_budget("agent", budget)
    agent = load_model(OnnxAgent, model_dir, synth.definition)
    return match_with_agent(synth, agent, target_audio, note, budget)


def agent_then_refine(
    synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
    model_dir: Path | None = None,
) -> MatchResult:
    """The agent for ``budget - budget // 4`` steps, then ``budget // 4`` renders of CMA-ES around its best patch.

    Uses ``budget + 1`` renders in all, as the agent alone does; ``steps`` is ``budget``.
    """
    check_budget("agent+refine", budget)
    agent = load_model(OnnxAgent, model_dir, synth.definition)
    began = time.perf_counter()
    refine = int(budget * REFINE_FRACTION)
    matched = match_with_agent(synth, agent, target_audio, note, budget - refine)
    log = SearchLog.resume(synth, target_audio, matched, began)
    refine_with_cmaes(log, matched.params, REFINE_SIGMA, refine, rng)
    return log.result("agent+refine")


def agent_with_search(
    synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
    model_dir: Path | None = None,
) -> MatchResult:
    """The agent trying :data:`SEARCH_CANDIDATES` steps a step (:func:`~synthmatch.matching.search_step`).

    ``budget`` counts renders after the start's, as for the search baselines: ``budget // K`` steps of K
    candidates, K = min(SEARCH_CANDIDATES, budget), so it never renders more than ``budget + 1`` notes.
    """
    check_budget("agent+search", budget)
    agent = load_model(OnnxAgent, model_dir, synth.definition)
    candidates = min(SEARCH_CANDIDATES, budget)
    result = match_with_agent(synth, agent, target_audio, note, budget // candidates, candidates=candidates,
                              seed=int(rng.integers(2**31)))
    return replace(result, method="agent+search")


def oneshot_guess(
    synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
    model_dir: Path | None = None,
) -> MatchResult:
    """The one-shot regressor's patch for the target (``oneshot.onnx`` in the model folder): one render."""
    check_budget("oneshot", budget)
    model = load_model(OnnxOneShot, model_dir, synth.definition)
    began = time.perf_counter()
    target = check_target_audio(synth, target_audio)
    guess = model.predict(model.observe(target[None]))[0].astype(np.float64)
    return SearchLog.start(synth, target, note, guess, began).result("oneshot")


METHODS: dict[str, MethodFn] = {
    "agent": agent_search,
    "random": random_search,
    "cmaes": cmaes_search,
    "oneshot": oneshot_guess,
    "agent+refine": agent_then_refine,
    "agent+search": agent_with_search,
}
"""Every method by the name ``--method`` and ``--methods`` take."""

#: The methods that need a model folder, and the network each one loads from it.
MODEL_METHODS: dict[str, type[OnnxModel]] = {
    "agent": OnnxAgent, "oneshot": OnnxOneShot, "agent+refine": OnnxAgent, "agent+search": OnnxAgent,
}


def get_method(name: str) -> MethodFn:
    """The method called ``name``; a ValueError lists the methods and the closest name."""
    try:
        return METHODS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(METHODS), n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown method {name!r}; {hint}choose from {', '.join(METHODS)}") from None


def check_budget(method: str, budget: int) -> None:
    """A ValueError unless ``budget`` is an int >= 1."""
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget < 1:
        raise ValueError(f"{method}: budget {budget!r} must be an int >= 1 (agent steps or renders)")


Model = TypeVar("Model", bound=OnnxModel)
_LOADED: dict[tuple[type[OnnxModel], Path, str, str], OnnxModel] = {}


def load_model(kind: type[Model], model_dir: Path | None, definition: SynthDefinition) -> Model:
    """``kind.load(model_dir, definition)``, once per process; None means the synth's shipped model.

    Loading (a few onnxruntime sessions) happens outside the methods' timing. A model folder without the
    network ``kind`` needs raises FileNotFoundError with the fix.
    """
    folder = Path(model_dir) if model_dir is not None else default_model_dir(definition)
    key = (kind, folder.resolve(), definition.name, definition.sha256)
    if key not in _LOADED:
        try:
            _LOADED[key] = kind.load(folder, definition)
        except FileNotFoundError as err:
            if kind is not OnnxOneShot:
                raise
            raise FileNotFoundError(
                f"{err}; or add one to this folder with `python -m synthmatch.training.oneshot --model {folder}`"
            ) from None
    model = _LOADED[key]
    assert isinstance(model, kind)
    return model
