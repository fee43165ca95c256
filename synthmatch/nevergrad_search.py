"""Two stronger search baselines from nevergrad: its (1+1)-ES (``OnePlusOne``) and its meta-optimizer ``NGOpt``.

They search as the project's own searches do (:mod:`synthmatch.search_methods`): from the definition's default
patch, inside [0, 1], every candidate quantised before it is rendered and measured, the best kept by the one
rule, ``budget`` renders after the start's. nevergrad keeps its defaults (a bounded array's step is a sixth of
the range; NGOpt picks its optimizer from the budget and dimension) and is seeded from the match's random
stream, so a match is reproducible. nevergrad (with pandas and scikit-learn) is imported on first use only.

nevergrad 1.0.12's MetaModel (NGOpt's choice for 20 parameters at about 1000 renders) calls ``float()`` on a
one-element array, which numpy 2 refuses; :func:`nevergrad_module` gives that one module a ``float`` that takes
such an array, as numpy 1 did, so NGOpt runs as its authors meant. Any other error of nevergrad ends the search
with the best patch so far and a warning, so a baseline never takes a match down with it.
"""

from __future__ import annotations

import builtins
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synthmatch.matching import MatchResult, Params, start_patch
from synthmatch.search_methods import SearchLog, check_budget
from synthmatch.synths import Synth

#: The registry's method names and the nevergrad optimizer each runs.
OPTIMIZERS = {"oneplusone": "OnePlusOne", "ngopt": "NGOpt"}


def oneplusone_search(
    synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
    model_dir: Path | None = None,
) -> MatchResult:
    """nevergrad's (1+1)-ES with its one-fifth rule from the default patch: ``budget`` renders after the start."""
    return nevergrad_search("oneplusone", synth, target_audio, note, budget, rng)


def ngopt_search(
    synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
    model_dir: Path | None = None,
) -> MatchResult:
    """nevergrad's NGOpt (it picks COBYLA, a MetaModel over CMA, ... by budget) from the default patch."""
    return nevergrad_search("ngopt", synth, target_audio, note, budget, rng)


def nevergrad_search(
    method: str, synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
) -> MatchResult:
    """Run the nevergrad optimizer of ``method`` (a key of OPTIMIZERS): the start, then ``budget`` renders."""
    check_budget(method, budget)
    start = start_patch(synth, None)
    log = SearchLog.start(synth, target_audio, note, start)
    optimize_with_nevergrad(log, OPTIMIZERS[method], start, budget, rng)
    return log.result(method)


def optimize_with_nevergrad(log: SearchLog, optimizer_name: str, x0: Params, renders: int,
                            rng: np.random.Generator) -> None:
    """Spend ``renders`` renders on nevergrad's ``optimizer_name`` from ``x0[P]`` inside [0, 1], one at a time.

    Each candidate is rendered (quantised) and its distance told to nevergrad. An exception of nevergrad itself
    ends the search with a RuntimeWarning; one from the render (a stop asked for, a synth's error) passes through.
    """
    ng = nevergrad_module()
    parametrization = ng.p.Array(init=np.asarray(x0, dtype=np.float64), lower=0.0, upper=1.0)
    parametrization.random_state = np.random.RandomState(int(rng.integers(2**31 - 1)))
    before = log.renders
    with warnings.catch_warnings():  # its inner optimizers (COBYLA, Powell on the MetaModel) warn at every turn
        warnings.simplefilter("ignore")
        optimizer = ng.optimizers.registry[optimizer_name](parametrization=parametrization, budget=renders,
                                                           num_workers=1)
        try:
            failure = _ask_and_tell(optimizer, log, renders)
        finally:  # a stop or a synth's error mid-search must not leave COBYLA's thread waiting for a distance
            _stop_threads(optimizer)
    if failure is not None:
        warnings.warn(f"nevergrad {optimizer_name} failed after {log.renders - before} of {renders} renders "
                      f"({type(failure).__name__}: {failure}); the best patch so far is kept", RuntimeWarning,
                      stacklevel=3)


def _ask_and_tell(optimizer: Any, log: SearchLog, renders: int) -> Exception | None:
    """Render ``renders`` candidates of ``optimizer`` into ``log``; nevergrad's own exception, if it fails."""
    for _ in range(renders):
        try:
            candidate = optimizer.ask()
        except Exception as err:  # nevergrad's own failure: the caller keeps what was found and says why
            return err
        distance = float(log.evaluate(np.asarray(candidate.value)[None])[0])
        try:
            optimizer.tell(candidate, distance)
        except Exception as err:
            return err
    return None


def _stop_threads(optimizer: Any) -> None:
    """Stop the threads in which nevergrad runs scipy's optimizers (COBYLA, Powell), along NGOpt's choices.

    nevergrad stops such a thread only when its optimizer is garbage-collected, and a reference cycle can put
    that off past the interpreter's exit, which then waits for the thread for ever. A finished thread ignores it.
    """
    seen: set[int] = set()
    while optimizer is not None and id(optimizer) not in seen:
        seen.add(id(optimizer))
        thread = getattr(optimizer, "_messaging_thread", None)
        if thread is not None:
            thread.stop()
        optimizer = getattr(optimizer, "optim", None) or getattr(optimizer, "_optim", None)


def _scalar(value: Any) -> float:
    """``float(value)`` that also takes a one-element array, as numpy 1 did (numpy 2 raises a TypeError)."""
    return builtins.float(np.asarray(value).reshape(()))


def nevergrad_module() -> Any:
    """The ``nevergrad`` package, imported on first use (about 3 s with pandas and scikit-learn), MetaModel mended."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import nevergrad
        from nevergrad.optimization import metamodel
    metamodel.float = _scalar  # a module-level name there shadows the builtin float in its functions
    return nevergrad
