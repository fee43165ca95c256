"""The seeded validation episodes on which training reports its progress: distance and success, as a user sees them.

Every episode starts from the definition's default patch (as ``synthmatch match`` does) at a note across the
playable range, towards a random audible target drawn from a random stream that training never draws from.
The policy plays deterministically (tanh of the mean) for the episode's steps and the best patch is kept by the
environment (:class:`synthmatch.match_rules.BestSoFar`), as :func:`synthmatch.matching.match_with_agent` keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from synthmatch.distances import param_mae
from synthmatch.training.actor_critic import observation_tensors
from synthmatch.training.environment import EpisodeBatch, MatchTask

#: Second word of the validation episodes' seed: np.random.default_rng([seed, VALIDATION_STREAM, i]).
VALIDATION_STREAM = 0x7A11D


@dataclass(frozen=True)
class ValidationResult:
    """Figures of one validation pass over the fixed episodes."""

    distance_start_median: float
    """Median primary distance of the start patches."""
    distance_median: float
    """Median primary distance of the best patch of each episode."""
    success_rate: float
    """Fraction of episodes whose best patch is within the success threshold."""
    param_mae_median: float
    """Median mean absolute error (normalised) between the best patch and the target patch."""

    def to_dict(self) -> dict[str, float]:
        """Plain dict for the summary, the checkpoint and TensorBoard."""
        return dict(self.__dict__)


def validation_batch(task: MatchTask, episodes: int, seed: int) -> EpisodeBatch:
    """The ``episodes`` fixed validation episodes of ``seed``, begun (targets rendered) and ready to play."""
    rngs = [np.random.default_rng([seed, VALIDATION_STREAM, i]) for i in range(episodes)]
    return task.start(rngs, {"start": "default"})


@torch.no_grad()
def validate(
    task: MatchTask, observer: nn.Module, policy: nn.Module, start: EpisodeBatch, steps: int
) -> ValidationResult:
    """Play the deterministic policy for ``steps`` steps on a copy of ``start`` and measure the best patches."""
    batch = replace(start)  # advance assigns new arrays to the batch, so start stays as it was
    device = next(policy.parameters()).device
    for _ in range(steps):
        target, current, params = observation_tensors(
            {"target": batch.target_mel_db, "current": batch.current_mel_db, "params": batch.params}, device)
        actions = policy(observer(target, current), params).cpu().numpy().astype(np.float64)
        task.advance(batch, actions)
    best = batch.best
    return ValidationResult(
        distance_start_median=float(np.median(start.distance)),
        distance_median=float(np.median(best.distance)),
        success_rate=float(np.mean(best.distance < task.success_threshold)),
        param_mae_median=float(np.median(param_mae(best.params, batch.target_params))),
    )
