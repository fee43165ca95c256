"""The two rules every match shares: how a step moves a patch, and how the best patch so far is kept.

The match loop, its searching step, the search methods, the daemon's session, the training environment and
its validation all use these two and nothing else, so a match means the same thing wherever it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthmatch.definitions import SynthDefinition
from synthmatch.params import quantise_all

Params = npt.NDArray[np.float64]
Distances = npt.NDArray[np.float64]


def move(
    definition: SynthDefinition, params: npt.NDArray[np.floating], actions: npt.NDArray[np.floating],
    max_step: float,
) -> Params:
    """The step rule: ``params[..., P]`` moved by ``max_step * clip(actions, -1, 1)`` (broadcast), clipped, quantised.

    An action of +-1 moves a parameter by ``max_step`` of its normalised range; the new patch is clipped to
    [0, 1] and quantised to what the synth really receives (7-bit / 14-bit MIDI, steps, integer OSC).
    """
    return quantise_all(definition, np.clip(params + max_step * np.clip(actions, -1.0, 1.0), 0.0, 1.0))


@dataclass(frozen=True)
class BestSoFar:
    """The best patch of one match (params [P], distance []) or of B matches ([B, P], [B]) and its distance.

    A new patch replaces the best only when strictly closer, so a tie keeps the earlier patch. Immutable:
    :meth:`update` answers a new one, so a copy of a match's state can never change under another.
    """

    params: Params
    """The best patch [..., P], normalised and quantised."""
    distance: Distances
    """Its primary distance to the target [...], nepers."""

    @classmethod
    def start(cls, params: npt.NDArray[np.floating], distance: npt.ArrayLike) -> BestSoFar:
        """The start patch ``params[..., P]`` at ``distance[...]`` is the best until a step beats it (both copied)."""
        return cls(np.array(params, dtype=np.float64), np.array(distance, dtype=np.float64))

    def update(
        self, params: npt.NDArray[np.floating], distance: npt.ArrayLike
    ) -> tuple[BestSoFar, npt.NDArray[np.bool_]]:
        """The best after the new patches ``params[..., P]`` at ``distance[...]``, and where they improved it."""
        distance = np.asarray(distance, dtype=np.float64)
        improved = distance < self.distance
        best_params = np.where(improved[..., None], params, self.params)
        return BestSoFar(best_params, np.where(improved, distance, self.distance)), improved
