"""The methods that load a network from a model folder: the agent, agent+search, agent+refine and the one-shot guess.

All run on onnxruntime (no torch); each loads its network once per process (:func:`load_model`), outside the
match's timing. The registry of every method is :mod:`synthmatch.match_methods`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from synthmatch.agent import OnnxAgent, OnnxModel, OnnxOneShot, default_model_dir
from synthmatch.definitions import SynthDefinition
from synthmatch.matching import MatchResult, check_target_audio, match_with_agent
from synthmatch.polish import polish_steps
from synthmatch.search_methods import SearchLog, check_budget, refine_with_cmaes, refine_with_polish
from synthmatch.synths import Synth

#: Share of agent+refine's budget that goes to the refinement (rounded down) at least; the agent takes the rest.
REFINE_FRACTION = 0.25
#: Most steps agent+refine gives the agent: its episode, 32 steps (it stops gaining after 10 to 16); the rest refines.
REFINE_AGENT_STEPS = 32
#: Share of agent+refine's renders the polish plays, the last ones (after the agent's steps, which come first): since
#: the polish moves a few knobs a step it gains more there than CMA-ES does (docs/evaluation.md, "Sparse polish").
REFINE_POLISH_SHARE = 0.75
#: Step size of the refinement around the agent's best patch: half the agent's largest step (0.1).
REFINE_SIGMA = 0.05
#: Most steps agent+search tries at every step: the agent's and 7 variations (8 renders a step).
SEARCH_CANDIDATES = 8
#: Steps agent+search's agent takes where the budget allows (its candidates a step grow with the budget, up to
#: SEARCH_CANDIDATES): it gains for 10 to 16 steps; the polish plays the renders left.
SEARCH_MAX_STEPS = 16
#: The networks a model folder may hold, by the name :class:`~synthmatch.match_methods.MatchMethod` gives them.
NETWORKS: dict[str, type[OnnxModel]] = {"agent": OnnxAgent, "oneshot": OnnxOneShot}


def agent_search(
    synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
    model_dir: Path | None = None,
) -> MatchResult:
    """The exported agent in ``model_dir`` (or the shipped one), ``budget`` steps from the default patch (the
    polish's steps drawn from ``rng``)."""
    check_budget("agent", budget)
    agent = load_model(OnnxAgent, model_dir, synth.definition)
    return match_with_agent(synth, agent, target_audio, note, budget, seed=int(rng.integers(2**31)))


def agent_then_refine(
    synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
    model_dir: Path | None = None,
) -> MatchResult:
    """The agent for ``min(budget - budget // 4, 32)`` steps, then CMA-ES around its best patch, then the polish
    (:mod:`synthmatch.polish`) for the renders left, at most the last :data:`REFINE_POLISH_SHARE` of them.

    Uses ``budget + 1`` renders in all, as the agent alone does; ``steps`` is ``budget``. At 256 renders: 32
    agent steps, 32 of CMA-ES, 192 of polish; at 128 or fewer there is no CMA-ES, the agent and the polish share
    them (at 32: 24 and 8). docs/evaluation.md has why ("The agent, then a search" and "Sparse polish"). The agent
    plays without its start bank (with it: level on real sounds, farther on random patches) and without a polish
    of its own: the search's last renders are the polish.
    """
    check_budget("agent+refine", budget)
    agent = load_model(OnnxAgent, model_dir, synth.definition)
    began = time.perf_counter()
    steps = min(budget - int(budget * REFINE_FRACTION), REFINE_AGENT_STEPS)
    matched = match_with_agent(synth, agent, target_audio, note, steps, bank=False, polish=False)
    log = SearchLog.resume(synth, target_audio, matched, began)
    refine_with_cmaes(log, matched.params, REFINE_SIGMA, budget - steps - int(budget * REFINE_POLISH_SHARE), rng)
    refine_with_polish(log, budget + 1 - log.renders, rng)  # what CMA-ES left, should it stop early, too
    return log.result("agent+refine")


def agent_with_search(
    synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
    model_dir: Path | None = None,
) -> MatchResult:
    """The agent trying up to :data:`SEARCH_CANDIDATES` steps a step (:func:`~synthmatch.matching.search_step`), for
    :data:`SEARCH_MAX_STEPS` steps where the budget allows, then the polish (:mod:`synthmatch.polish`) for the rest of
    ``budget``, at least its last quarter.

    ``budget`` counts renders after the start's, as for the search methods: S // C steps of C candidates, S =
    min(budget - budget // 4, SEARCH_MAX_STEPS * SEARCH_CANDIDATES), C = S // SEARCH_MAX_STEPS within 1 ..
    SEARCH_CANDIDATES (the agent gets its steps first, the candidates grow with the budget), then one render a
    polish step, ``budget + 1`` renders in all. At 32: 24 agent steps (C 1: the start bank plays first, as in a
    plain agent match), 8 of polish; at 64: 16 steps of 3; at 256: 16 steps of 8, 128 of polish (docs/evaluation.md,
    "agent+search with a polish": on real notes 1.17x -> 1.04x CMA-ES at 1024).
    """
    check_budget("agent+search", budget)
    agent = load_model(OnnxAgent, model_dir, synth.definition)
    began = time.perf_counter()
    searched = min(budget - polish_steps(budget), SEARCH_MAX_STEPS * SEARCH_CANDIDATES)
    candidates = max(1, min(SEARCH_CANDIDATES, searched // SEARCH_MAX_STEPS))
    matched = match_with_agent(synth, agent, target_audio, note, searched // candidates, candidates=candidates,
                               seed=int(rng.integers(2**31)), polish=False)
    log = SearchLog.resume(synth, target_audio, matched, began)
    refine_with_polish(log, budget + 1 - log.renders, rng)
    return log.result("agent+search")


def oneshot_guess(
    synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
    model_dir: Path | None = None,
) -> MatchResult:
    """The one-shot regressor's patch for the target (``oneshot.onnx`` in the model folder): one render.

    It has no start: its ``distance_start`` is its ``distance``.
    """
    check_budget("oneshot", budget)
    model = load_model(OnnxOneShot, model_dir, synth.definition)
    began = time.perf_counter()
    target = check_target_audio(synth, target_audio)
    guess = model.predict(model.observe(target[None]))[0].astype(np.float64)
    return SearchLog.start(synth, target, note, guess, began).result("oneshot")


def agent_parts(model_dir: Path | None, definition: SynthDefinition) -> dict[str, Any]:
    """What the agent methods play with ``model_dir`` (None: the shipped one) besides the agent: ``relay`` (its
    folder, or None), ``starts`` (the start bank's patches, or None) and ``oneshot_start`` (whether the one-shot
    regressor's guess plays before them).

    Reports record it next to the model folder, so a comparison says what each side played.
    """
    agent = load_model(OnnxAgent, model_dir, definition)
    return {"relay": None if agent.relay is None else str(agent.relay.metadata.folder),
            "starts": None if agent.starts is None else len(agent.starts), "oneshot_start": agent.oneshot is not None}


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
