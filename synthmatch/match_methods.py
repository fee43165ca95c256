"""The one registry of match methods, read by `synthmatch match`, `synthmatch eval`, the benchmarks and the CLI's help.

Every method gets ``(synth, target_audio[N], note, budget, rng, model_dir)`` and returns a
:class:`~synthmatch.matching.MatchResult` whose ``renders`` counts every note it rendered. One rule counts them:
every method but the one-shot guess renders the start patch once, then at most ``budget`` K more (an agent step
is one render, a searching step C), so K + 1 in all:

============== ================================================================= ========================
method         what it does                                                      renders for budget K
============== ================================================================= ========================
agent          the exported agent, K steps from the default patch, the last     K + 1 (start + K steps)
               K // 4 the polish (:mod:`synthmatch.polish`)
random         the default patch, then K uniform random patches; best kept       K + 1
cmaes          the default patch, then CMA-ES (the ``cma`` package) from it      <= K + 1 (stops if converged)
oneplusone     the default patch, then nevergrad's (1+1)-ES from it              K + 1 (fewer if it fails)
ngopt          the default patch, then nevergrad's NGOpt from it                 K + 1 (fewer if it fails)
oneshot        the one-shot regressor's patch (``oneshot.onnx``), budget unused  1
agent+refine   the agent for min(K - K // 4, 32) steps, then CMA-ES around       K + 1, like the agent
               its best (sigma REFINE_SIGMA), then the polish for the renders
               left, at most the last 3K // 4 (CMA-ES only from K = 129)
agent+search   S // C steps of the agent, each trying C = S // 16 (1 .. 8)       K + 1, like the agent
               steps, S = min(K - K // 4, 16 * 8); then the polish for the rest
============== ================================================================= ========================

All live in the core and need no torch (:mod:`synthmatch.search_methods`, :mod:`synthmatch.nevergrad_search`,
:mod:`synthmatch.agent_methods`).
This module holds only where each one lives, so the command line can name them without importing onnxruntime
cma or nevergrad; :meth:`MatchMethod.load` imports a method's module when it is first run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from synthmatch.name_hints import did_you_mean

if TYPE_CHECKING:  # only the types: the methods' modules import onnxruntime, which the command line need not load
    import numpy as np
    import numpy.typing as npt

    from synthmatch.matching import MatchResult
    from synthmatch.synths import Synth


class MethodFn(Protocol):
    """A matching method: match ``target_audio[N]`` at ``note`` within ``budget`` steps or renders."""

    def __call__(
        self, synth: Synth, target_audio: npt.ArrayLike, note: int, budget: int, rng: np.random.Generator,
        model_dir: Path | None,
    ) -> MatchResult:
        """The best patch found; ``model_dir`` None means the synth's shipped model (methods that need one)."""
        ...


@dataclass(frozen=True)
class MatchMethod:
    """One registered method: where its function lives and which network of a model folder it loads."""

    module: str
    """Import path of the module that defines it."""
    function: str
    """Name of its function (a :class:`MethodFn`) in that module."""
    network: Literal["agent", "oneshot"] | None
    """The model folder's network it runs (a key of ``synthmatch.agent_methods.NETWORKS``); None: no model."""
    compared_by_default: bool
    """Whether ``synthmatch eval`` runs it when ``--methods`` is not given."""

    def load(self) -> MethodFn:
        """The method's function."""
        function: MethodFn = getattr(importlib.import_module(self.module), self.function)
        return function


_AGENTS, _SEARCHES, _NEVERGRAD = "synthmatch.agent_methods", "synthmatch.search_methods", "synthmatch.nevergrad_search"

METHODS: dict[str, MatchMethod] = {
    "agent": MatchMethod(_AGENTS, "agent_search", "agent", compared_by_default=True),
    "random": MatchMethod(_SEARCHES, "random_search", None, compared_by_default=True),
    "cmaes": MatchMethod(_SEARCHES, "cmaes_search", None, compared_by_default=True),
    "oneplusone": MatchMethod(_NEVERGRAD, "oneplusone_search", None, compared_by_default=False),
    "ngopt": MatchMethod(_NEVERGRAD, "ngopt_search", None, compared_by_default=False),
    "oneshot": MatchMethod(_AGENTS, "oneshot_guess", "oneshot", compared_by_default=True),
    "agent+refine": MatchMethod(_AGENTS, "agent_then_refine", "agent", compared_by_default=True),
    "agent+search": MatchMethod(_AGENTS, "agent_with_search", "agent", compared_by_default=False),
}
"""Every method by the name ``--method`` and ``--methods`` take, in the order tables list them."""

METHOD_NAMES = tuple(METHODS)
"""The registered names, in order."""

DEFAULT_EVAL_METHODS = tuple(name for name, method in METHODS.items() if method.compared_by_default)
"""The methods ``synthmatch eval`` compares unless ``--methods`` names others."""


def match_method(name: str) -> MatchMethod:
    """The method registered as ``name``; a ValueError suggests the closest names, or lists them all."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}{did_you_mean(name, METHOD_NAMES)}")
    return METHODS[name]


def get_method(name: str) -> MethodFn:
    """The function of the method registered as ``name`` (imported now); a ValueError for an unknown name."""
    return match_method(name).load()
