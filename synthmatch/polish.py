"""The last steps of a match: a (1+1)-ES polishing the best patch, one render a step.

Why: the agent comes close in 10 to 16 steps and then circles; a few small random steps around the best patch,
with a step size that grows after a success and shrinks after a miss (the 1/5 success rule), gain more than the
agent's own late steps, on real sounds and on random patches alike (docs/evaluation.md, "Polish"). Each step moves
a random quarter of the knobs, not all of them: near a good patch a step of a few knobs finds a closer patch more
often than one of all twenty (docs/evaluation.md, "Sparse polish"). The match loop
(:func:`synthmatch.matching.match_with_agent`) gives the polish the last :data:`POLISH_SHARE` of its steps, and
agent+refine the last three quarters of its renders (:func:`synthmatch.search_methods.refine_with_polish`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthmatch.definitions import SynthDefinition
from synthmatch.match_rules import Params
from synthmatch.params import quantise_all

#: Share of a match's steps (rounded down) the polish plays, the last ones: 8 of agent@32's 32.
POLISH_SHARE = 0.25
#: First step size of the polish, the std of its Gaussian step in normalised units (a fifth of the agent's largest).
POLISH_SIGMA = 0.02
#: The step size grows by this after a new best and shrinks by its fourth root after a miss: the 1/5 success rule.
POLISH_GROWTH = 1.5
#: Share of the parameters a polish step moves, each drawn on its own (at least one): a quarter, about 5 of 20.
POLISH_MOVED = 0.25
#: Smallest step size: about two thirds of a 7-bit MIDI step, so that a long polish (a daemon match of thousands of
#: steps) keeps proposing new patches instead of shrinking until every proposal quantises to the best patch again.
POLISH_MIN_SIGMA = POLISH_SIGMA / 4


def polish_steps(steps: int) -> int:
    """How many of a match's ``steps`` the polish plays (the last ones)."""
    return int(steps * POLISH_SHARE)


@dataclass
class Polish:
    """A (1+1)-ES around the best patch: :meth:`propose` a patch, play it, :meth:`adapt` to whether it was better."""

    definition: SynthDefinition
    sigma: float = POLISH_SIGMA

    def propose(self, best: Params, rng: np.random.Generator) -> Params:
        """The patch to play next [P]: ``best[P]`` plus a Gaussian step on a random :data:`POLISH_MOVED` of its
        parameters, clipped and quantised.

        The moved parameters' std is :attr:`sigma` / sqrt(POLISH_MOVED), so a step is about as long, on average, as a
        step of std :attr:`sigma` on every parameter.
        """
        step = self.sigma / np.sqrt(POLISH_MOVED) * rng.standard_normal(best.shape)
        moved = rng.random(best.shape) < POLISH_MOVED
        moved[rng.integers(len(best))] = True
        return quantise_all(self.definition, np.clip(best + step * moved, 0.0, 1.0))

    def adapt(self, improved: bool) -> None:
        """Grow the step after a new best, shrink it after a miss (at a 1/5 success rate it stays put), never below
        :data:`POLISH_MIN_SIGMA`."""
        self.sigma = max(self.sigma * (POLISH_GROWTH if improved else POLISH_GROWTH ** -0.25), POLISH_MIN_SIGMA)
