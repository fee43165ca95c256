"""The replay buffer of the RL stage: transitions from the vector environment, log-mels kept as float16.

One transition stores three log-mels (the target, the current sound before and after the step) as float16 (about
0.06 dB resolution at -80 dB, 24 KB per transition for 64 x 63 mels) and its patches, action, reward, end flag and
oracle step (NaN where the target's patch is unknown) and probed reward gradient (NaN unless the step was probed,
see :mod:`synthmatch.training.probe`) as float32. The target is stored once: a step never changes
the target, so ``next_target`` of a sampled batch is ``target``. The next observation of a step that ended its
episode is the finished episode's last one, ``info["final_obs"]``, never the new episode's first (see
:func:`true_next_observations`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

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


Embedder = Callable[[Observation], npt.NDArray[np.float32]]
"""The frozen observer as a function: a batched observation -> embeddings [B, E] (see :func:`frozen_embedder`)."""


def frozen_embedder(observer: nn.Module) -> Embedder:
    """``observer`` (frozen: it must not train while the buffer holds its embeddings) as an :data:`Embedder`."""
    device = next(observer.parameters()).device

    @torch.no_grad()
    def embed(obs: Observation) -> npt.NDArray[np.float32]:
        target, current = (torch.as_tensor(np.asarray(obs[key]), dtype=torch.float32, device=device)
                           for key in ("target", "current"))
        return observer(target, current).cpu().numpy()

    return embed


class ReplayBuffer:
    """A ring of at most ``capacity`` transitions; the oldest is overwritten first.

    ``mel_shape`` is (n_mels, frames) and ``params`` the number of synth parameters P. With ``embed`` (a frozen
    observer, size ``embed_dim``) each state is kept as its embedding instead of its log-mels, and batches carry
    ``embedding`` / ``next_embedding`` instead of ``target`` / ``current`` / ``next_current``. Arrays are allocated
    at full size up front but the operating system only backs the pages written, so a large capacity costs
    memory only as the buffer fills.
    """

    def __init__(
        self, capacity: int, mel_shape: tuple[int, int], params: int, embed: Embedder | None = None,
        embed_dim: int = 0,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"replay buffer capacity must be >= 1 transition, got {capacity}")
        self.capacity, self.embed = capacity, embed
        state: dict[str, tuple[tuple[int, ...], type]] = (
            {"embedding": ((embed_dim,), np.float32), "next_embedding": ((embed_dim,), np.float32)}
            if embed is not None else
            {name: (mel_shape, np.float16) for name in ("target", "current", "next_current")}
        )
        columns = state | {
            "params": ((params,), np.float32), "next_params": ((params,), np.float32),
            "action": ((params,), np.float32), "reward": ((), np.float32), "terminated": ((), np.float32),
            "oracle_action": ((params,), np.float32), "reward_gradient": ((params,), np.float32),
        }
        self.columns: dict[str, npt.NDArray[Any]] = {
            name: np.empty((capacity, *shape), dtype) for name, (shape, dtype) in columns.items()
        }
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
        if self.embed is not None:
            state = {"embedding": self.embed(obs), "next_embedding": self.embed(after)}
        else:
            state = {"target": obs["target"], "current": obs["current"], "next_current": after["current"]}
        values = state | {
            "params": obs["params"], "next_params": after["params"], "action": actions, "reward": rewards,
            "terminated": terminated, "oracle_action": np.nan if oracle_actions is None else oracle_actions,
            "reward_gradient": infos.get("reward_gradient", np.nan),
        }
        rows = (self._next + np.arange(len(actions))) % self.capacity
        for name, value in values.items():
            self.columns[name][rows] = value
        self._next = int((self._next + len(actions)) % self.capacity)
        self._size = min(self._size + len(actions), self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator,
               device: torch.device | None = None) -> dict[str, torch.Tensor]:
        """``batch_size`` transitions drawn uniformly (with replacement) as the float32 batch the algorithms take.

        The batch is on ``device`` (the learner's; None: the CPU), drawn from the buffer in host memory.

        Keys and shapes: see :mod:`synthmatch.training.algorithm`; ``next_target`` is the same tensor as ``target``.
        """
        if self._size == 0:
            raise RuntimeError("the replay buffer is empty: add transitions before sampling")
        rows = rng.integers(0, self._size, batch_size)
        batch = {name: torch.from_numpy(column[rows].astype(np.float32)).to(device)
                 for name, column in self.columns.items()}
        if "target" in batch:
            batch["next_target"] = batch["target"]
        return batch
