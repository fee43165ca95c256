"""What an algorithm of the RL stage is (an honest Protocol), the replay batch it learns from, and the registry.

The registry holds SAC and TD3 (actor-critic, :mod:`synthmatch.training.actor_critic`) and the probed policy
gradient (:mod:`synthmatch.training.probe`), which takes the same networks and batches but measures the action
gradient on the synth instead of learning a critic. Each is registered with its settings class, the type of the
table of the same name in a training config (``[sac]``, ``[td3]``, ``[probe]``).

An algorithm is built from an observer (target and current log-mels -> embedding), a
:class:`~synthmatch.training.networks.Policy` and a twin :class:`~synthmatch.training.networks.Critic` (which the
probe does not use), all imitation-pretrained or fresh, plus its settings. It acts on numpy observations and
learns from replay batches of torch tensors:

============================ =========== ==========================================================
batch key                    shape       meaning
============================ =========== ==========================================================
target, next_target          [B, M, T]   target log-mel in dB, before and after the step
current, next_current        [B, M, T]   current sound's log-mel in dB, before and after the step
params, next_params          [B, P]      normalised patch before and after the step
action                       [B, P]      the step taken, in [-1, 1] (the environment scales it by max_step)
reward                       [B]         the environment's reward
terminated                   [B]         1.0 where the episode ended for good (a match); 0.0 otherwise
oracle_action (optional)     [B, P]      the oracle step toward the target's known patch; NaN rows: unknown
reward_gradient (optional)   [B, P]      the probed reward gradient at ``action`` (:mod:`synthmatch.training.probe`)
embedding, next_embedding    [B, E]      instead of the log-mels when the observer is frozen (actor_critic)
============================ =========== ==========================================================

A truncated episode (time limit) is not terminated: its last transition is bootstrapped, so the batch has no
``truncated`` key at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from torch import nn

from synthmatch.name_hints import did_you_mean
from synthmatch.training.actor_critic import Batch, Observation
from synthmatch.training.networks import Critic, Policy
from synthmatch.training.probe import ProbeConfig, ProbedGradient
from synthmatch.training.reward_probe import ProbeSettings
from synthmatch.training.sac import SAC, SacConfig
from synthmatch.training.td3 import TD3, Td3Config

Settings = TypeVar("Settings")
Settings_contra = TypeVar("Settings_contra", contravariant=True)


class Algorithm(Protocol):
    """An off-policy algorithm: acts, learns from replay batches, saves and restores itself."""

    probe: ProbeSettings | None
    """What the environment worker measures at each step for the batch's ``reward_gradient``; None: nothing."""

    def act(self, obs: Observation, explore: bool) -> npt.NDArray[np.float32]:
        """Actions [B, P] in [-1, 1] for observations target, current [B, M, T] and params [B, P]."""
        ...

    def update(self, batch: Batch) -> dict[str, float]:
        """One gradient update on a replay batch (keys in the module docstring); returns metrics for logging."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs: networks, targets, optimisers, counters, random state."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        ...

    def policy_modules(self) -> tuple[nn.Module, Policy]:
        """The online (observer, policy) whose composition ``policy(observer(target, current), params)`` is exported."""
        ...


class AlgorithmClass(Protocol[Settings_contra]):
    """An algorithm class as the registry sees it: built from (possibly pretrained) networks and its settings."""

    def __call__(
        self, observer: nn.Module, policy: Policy, critic: Critic, config: Settings_contra, seed: int = 0
    ) -> Algorithm:
        """Build the algorithm around the given (possibly pretrained) networks."""
        ...


@dataclass(frozen=True)
class AlgorithmEntry(Generic[Settings]):
    """A registered algorithm: its class and the class of its settings."""

    cls: AlgorithmClass[Settings]
    """Builds the algorithm."""
    settings: type[Settings]
    """Its settings: the training config's table of the algorithm's name has this type."""


#: Algorithms by the name ``synthmatch train --algo NAME`` and run configs use.
ALGORITHMS: dict[str, AlgorithmEntry[Any]] = {
    "sac": AlgorithmEntry(SAC, SacConfig),
    "td3": AlgorithmEntry(TD3, Td3Config),
    "probe": AlgorithmEntry(ProbedGradient, ProbeConfig),
}


def algorithm_class(name: str) -> AlgorithmClass[Any]:
    """The algorithm class registered as ``name``; a ValueError suggests the closest names, or lists them all."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}{did_you_mean(name, ALGORITHMS)}")
    return ALGORITHMS[name].cls
