"""The replay buffer of the RL stage: transitions from the vector environment, log-mels kept as float16.

One transition stores three log-mels (the target, the current sound before and after the step) as float16 (about
0.06 dB resolution at -80 dB, 24 KB per transition for 64 x 63 mels) and its patches, action, reward, end flag and
oracle step (NaN where the target's patch is unknown) as float32. The target is stored once: a step never changes
the target, so ``next_target`` of a sampled batch is ``target``. The next observation of a step that ended its
episode is the finished episode's last one, ``info["final_obs"]``, never the new episode's first (see
:func:`true_next_observations`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

Observation = Mapping[str, npt.NDArray[Any]]


def true_next_observations(next_obs: Observation, infos: Mapping[str, Any]) -> dict[str, npt.NDArray[Any]]:
    """What each row's step led to: ``info["final_obs"]`` where the episode ended (same-step autoreset), else next_obs.

    ``next_obs`` and ``info["final_obs"]`` are batched observations of ``SynthMatchVectorEnv``; the rows marked
    in ``info["_final_obs"]`` had their episode end in this step and were restarted.
    """
    result = {key: np.array(value, copy=True) for key, value in next_obs.items()}
    if "final_obs" in infos:
        ended = np.asarray(infos["_final_obs"], dtype=bool)
        for key, value in infos["final_obs"].items():
            result[key][ended] = value[ended]
    return result


class ReplayBuffer:
    """A ring of at most ``capacity`` transitions; the oldest is overwritten first.

    ``mel_shape`` is (n_mels, frames) and ``params`` the number of synth parameters P. Arrays are allocated at
    full size up front but the operating system only backs the pages written, so a large capacity costs memory
    only as the buffer fills.
    """

    def __init__(self, capacity: int, mel_shape: tuple[int, int], params: int) -> None:
        if capacity < 1:
            raise ValueError(f"replay buffer capacity must be >= 1 transition, got {capacity}")
        self.capacity = capacity
        self.target = np.empty((capacity, *mel_shape), np.float16)
        self.current = np.empty((capacity, *mel_shape), np.float16)
        self.next_current = np.empty((capacity, *mel_shape), np.float16)
        self.params = np.empty((capacity, params), np.float32)
        self.next_params = np.empty((capacity, params), np.float32)
        self.action = np.empty((capacity, params), np.float32)
        self.reward = np.empty(capacity, np.float32)
        self.terminated = np.empty(capacity, np.float32)
        self.oracle_action = np.empty((capacity, params), np.float32)
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        """Transitions stored."""
        return self._size

    def add(
        self,
        obs: Observation,
        actions: npt.NDArray[np.floating],
        rewards: npt.NDArray[np.floating],
        terminated: npt.NDArray[np.bool_],
        next_obs: Observation,
        infos: Mapping[str, Any],
        oracle_actions: npt.NDArray[np.floating] | None = None,
    ) -> None:
        """Store one vector-environment step: B transitions, next observations taken across the autoreset.

        ``obs`` is what the actions [B, P] were chosen on, the rest is what ``env.step`` returned, and
        ``oracle_actions`` [B, P] the oracle's step on ``obs`` (NaN rows, or None: unknown). Truncation is not
        stored: a truncated transition is bootstrapped like any other that did not terminate.
        """
        after = true_next_observations(next_obs, infos)
        count = len(actions)
        rows = (self._next + np.arange(count)) % self.capacity
        self.target[rows] = obs["target"]
        self.current[rows] = obs["current"]
        self.params[rows] = obs["params"]
        self.next_current[rows] = after["current"]
        self.next_params[rows] = after["params"]
        self.action[rows] = actions
        self.reward[rows] = rewards
        self.terminated[rows] = terminated
        self.oracle_action[rows] = np.nan if oracle_actions is None else oracle_actions
        self._next = int((self._next + count) % self.capacity)
        self._size = min(self._size + count, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """``batch_size`` transitions drawn uniformly (with replacement) as the float32 batch the algorithms take.

        Keys and shapes: see :mod:`synthmatch.training.algorithm`; ``next_target`` is the same tensor as ``target``.
        """
        if self._size == 0:
            raise RuntimeError("the replay buffer is empty: add transitions before sampling")
        rows = rng.integers(0, self._size, batch_size)
        target = torch.from_numpy(self.target[rows].astype(np.float32))
        return {
            "target": target,
            "current": torch.from_numpy(self.current[rows].astype(np.float32)),
            "params": torch.from_numpy(self.params[rows]),
            "action": torch.from_numpy(self.action[rows]),
            "reward": torch.from_numpy(self.reward[rows]),
            "next_target": target,
            "next_current": torch.from_numpy(self.next_current[rows].astype(np.float32)),
            "next_params": torch.from_numpy(self.next_params[rows]),
            "terminated": torch.from_numpy(self.terminated[rows]),
            "oracle_action": torch.from_numpy(self.oracle_action[rows]),
        }
