"""The imitation warm start: behaviour cloning on the oracle's episodes, then DAgger rounds.

On a synthetic target the parameters are known, so the best step is known too: the oracle step
``a* = clip((target - params) / max_step, -1, 1)`` moves every parameter straight towards its target value,
as far as one step may. Training observer and policy end to end to output ``a*`` (mean squared error on the
tanh action) is supervised learning, far cheaper than learning the same from rewards.

1. **Behaviour cloning**: the oracle plays episodes from random starts; every state it visits is labelled
   with its own step; the networks are fitted to them.
2. **DAgger** (Ross et al. 2011): the policy plays; every state *it* visits (including its mistakes, which the
   oracle never makes) is labelled with the oracle's step; the labelled states join the aggregate and the
   networks are fitted again. This teaches the recovery from the policy's own errors that cloning alone misses.

Only a few thousand targets fit in the budget, and a policy fitted to their states alone memorises them (its
action error on held-out states rose from 0.39 to 0.56 while falling to 0.10 on its own, in 3000 updates on
16384 states). So half of each minibatch is relabelled in hindsight: any visited state's sound is a target
whose patch is known, so another state at the same note gets it as its target and the oracle step towards it
as its label. With that, the held-out error stayed at 0.37 and the validation distance fell further.

The loss also pulls the policy's log-std output towards ``log(initial_std)``, so that SAC's exploration after
imitation starts as a small spread around the imitated step rather than an untrained one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from synthmatch.training.actor_critic import observation_tensors
from synthmatch.training.config import ImitationConfig
from synthmatch.training.env_worker import EnvWorker
from synthmatch.training.networks import Policy

Actor = Callable[[Mapping[str, npt.NDArray[Any]]], npt.NDArray[np.float32]]
"""Actions [B, P] in [-1, 1] for a batched observation (target, current [B, n_mels, frames], params [B, P])."""
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
"""A labelled minibatch, float32 tensors: target and current mel [B, n_mels, frames], params [B, P], oracle [B, P]."""


class LabelledStates(Protocol):
    """States whose oracle step is known, by row: :class:`Demonstrations`, or pairs of recordings."""

    def __len__(self) -> int:
        """States held."""
        ...

    def tensors(self, rows: slice) -> Batch:
        """The :data:`Batch` of ``rows``."""
        ...


def oracle_actions(
    params: npt.NDArray[np.floating], target_params: npt.NDArray[np.floating], max_step: float
) -> npt.NDArray[np.float32]:
    """The oracle step a* = clip((target_params - params) / max_step, -1, 1): [B, P] from params, targets [B, P]."""
    return np.clip((target_params - params) / max_step, -1.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class NoteGroups:
    """Rows grouped by note, to draw for any row another row at the same note (hindsight targets, recorded pairs)."""

    order: npt.NDArray[np.intp]
    """The rows sorted by note."""
    notes: npt.NDArray[np.int64]
    """The distinct notes, ascending."""
    first: npt.NDArray[np.intp]
    """Each distinct note's first position in ``order``."""
    count: npt.NDArray[np.intp]
    """How many rows each distinct note has."""

    @classmethod
    def of(cls, notes: npt.NDArray[np.integer]) -> NoteGroups:
        """The groups of ``notes[N]`` (row i plays notes[i])."""
        order = np.argsort(notes, kind="stable")
        distinct, first, count = np.unique(notes[order], return_index=True, return_counts=True)
        return cls(order, distinct.astype(np.int64), first, count)

    def draw(self, notes: npt.NDArray[np.integer], rng: np.random.Generator) -> npt.NDArray[np.intp]:
        """For each of ``notes[B]`` (each one a note of the grouped rows), a uniform row at that note: [B]."""
        group = np.searchsorted(self.notes, notes)
        picked: npt.NDArray[np.intp] = self.order[self.first[group] + (rng.random(len(group)) * self.count[group])
                                                  .astype(np.intp)]
        return picked


class Demonstrations:
    """Visited states with known targets, aggregated over rounds: log-mels as float16, patches as float32.

    A state is the target's and the current sound's log-mel [n_mels, frames], the current and the target patch
    [P] and the note. Its label, the oracle step, is computed when sampled, so any visited state can also serve
    as the target of another at the same note (hindsight relabelling, see :meth:`sample`). Arrays are allocated
    for ``capacity`` states up front; the operating system backs only the pages written.
    """

    def __init__(self, capacity: int, mel_shape: tuple[int, int], params: int, max_step: float) -> None:
        self.target = np.empty((capacity, *mel_shape), np.float16)
        self.current = np.empty((capacity, *mel_shape), np.float16)
        self.params = np.empty((capacity, params), np.float32)
        self.target_params = np.empty((capacity, params), np.float32)
        self.notes = np.empty(capacity, np.int64)
        self.max_step = max_step
        self.size = 0
        self._by_note: NoteGroups | None = None

    def __len__(self) -> int:
        """States stored."""
        return self.size

    def add(self, obs: Mapping[str, npt.NDArray[Any]], info: Mapping[str, Any], count: int) -> None:
        """Store the first ``count`` rows of a batched observation and info (target patch and note of each row)."""
        rows = slice(self.size, self.size + count)
        if rows.stop > len(self.params):
            raise RuntimeError(f"demonstrations are full ({len(self.params)} states)")
        self.target[rows] = obs["target"][:count]
        self.current[rows] = obs["current"][:count]
        self.params[rows] = obs["params"][:count]
        self.target_params[rows] = info["target_params"][:count]
        self.notes[rows] = info["note"][:count]
        self.size = rows.stop
        self._by_note = None

    def actions(self, rows: npt.NDArray[np.intp] | slice) -> npt.NDArray[np.float32]:
        """The oracle steps [B, P] of ``rows``."""
        return oracle_actions(self.params[rows], self.target_params[rows], self.max_step)

    def tensors(self, rows: npt.NDArray[np.intp] | slice) -> Batch:
        """float32 tensors (target mel, current mel, params, oracle action) of ``rows``."""
        return (
            torch.from_numpy(self.target[rows].astype(np.float32)),
            torch.from_numpy(self.current[rows].astype(np.float32)),
            torch.from_numpy(self.params[rows]),
            torch.from_numpy(self.actions(rows)),
        )

    def sample(self, batch_size: int, rng: np.random.Generator, hindsight: float) -> Batch:
        """A uniform minibatch as :meth:`tensors`, with a ``hindsight`` fraction of its targets replaced.

        A replaced row's target becomes the current sound of another stored state at the same note, whose patch
        is known, and its label the oracle step towards that patch. The policy so sees as many targets as states
        were rendered, not only the few that episodes were about, which keeps it from memorising them.
        """
        rows = rng.integers(0, self.size, batch_size)
        target, current, params, action = self.tensors(rows)
        swapped = np.flatnonzero(rng.random(batch_size) < hindsight)
        if swapped.size:
            others = self._note_groups().draw(self.notes[rows[swapped]], rng)
            target[swapped] = torch.from_numpy(self.current[others].astype(np.float32))
            action[swapped] = torch.from_numpy(oracle_actions(self.params[rows[swapped]], self.params[others],
                                                              self.max_step))
        return target, current, params, action

    def _note_groups(self) -> NoteGroups:
        """The stored rows grouped by note (computed once per size)."""
        if self._by_note is None:
            self._by_note = NoteGroups.of(self.notes[: self.size])
        return self._by_note


def network_actor(observer: nn.Module, policy: Policy) -> Actor:
    """The deterministic policy (tanh of the mean, as exported) as an :data:`Actor` on numpy observations."""

    device = next(policy.parameters()).device

    @torch.no_grad()
    def act(obs: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.float32]:
        target, current, params = observation_tensors(obs, device)
        action: npt.NDArray[np.float32] = policy(observer(target, current), params).cpu().numpy()
        return action

    return act


def collect(
    env: EnvWorker, data: Demonstrations, samples: int, seed: int, actor: Actor | None,
    while_stepping: Callable[[], object] | None = None, on_states: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Play ``actor`` (None: the oracle) in ``env`` reset with ``seed``; label ``samples`` visited states into ``data``.

    ``while_stepping`` runs in this process while the worker renders each step (the imitation's updates, so both
    cores work); ``on_states`` is called with the number of states labelled at each step (for a progress bar).
    Returns the mean action MSE of the actor against the oracle on the states it visited (0 for the oracle),
    the number of environment steps taken and the mean distance of the states visited.
    """
    obs, info = env.reset(seed=seed)
    squared_error, distance, taken = 0.0, 0.0, 0
    while taken < samples:
        labels = oracle_actions(obs["params"], info["target_params"], data.max_step)
        count = min(env.num_envs, samples - taken)
        data.add(obs, info, count)
        actions = labels if actor is None else actor(obs)
        squared_error += float(np.square(actions[:count] - labels[:count]).mean(axis=1).sum())
        distance += float(info["distance"][:count].sum())
        taken += count
        if on_states is not None:
            on_states(count)
        env.step_async(actions)
        if while_stepping is not None:
            while_stepping()
        obs, _, _, _, info = env.step_wait()
    return {"action_mse": squared_error / taken, "env_steps": float(taken), "distance_mean": distance / taken}


class Imitation:
    """Fits an observer and a policy to the oracle's steps on :class:`Demonstrations` (BC and DAgger share it)."""

    def __init__(self, observer: nn.Module, policy: Policy, config: ImitationConfig) -> None:
        self.observer, self.policy, self.config = observer, policy, config
        self.device = next(policy.parameters()).device
        self.optimiser = torch.optim.Adam([*observer.parameters(), *policy.parameters()], lr=config.lr)
        self.log_std_target = math.log(config.initial_std)

    def loss(self, target: torch.Tensor, current: torch.Tensor, params: torch.Tensor,
             oracle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(total loss, action MSE) of a batch: MSE of tanh(mean) to the oracle step plus the log-std pull."""
        mean, log_std = self.policy.distribution_parameters(self.observer(target, current), params)
        action_mse = nn.functional.mse_loss(torch.tanh(mean), oracle)
        std_pull = (log_std - self.log_std_target).square().mean()
        return action_mse + std_pull, action_mse

    def update(self, data: Demonstrations, rng: np.random.Generator) -> float:
        """One Adam step on a minibatch drawn from ``data`` (see :meth:`Demonstrations.sample`); its action MSE."""
        return self.step(data.sample(self.config.batch_size, rng, self.config.hindsight))

    def step(self, batch: Batch) -> float:
        """One Adam step on ``batch`` (moved to the learner's device); its action MSE."""
        loss, action_mse = self.loss(*(tensor.to(self.device) for tensor in batch))
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        return action_mse.item()

    def fit(self, data: Demonstrations, updates: int, rng: np.random.Generator) -> float:
        """``updates`` steps of :meth:`update`; the mean action MSE of the last tenth of them."""
        errors = [self.update(data, rng) for _ in range(updates)]
        return float(np.mean(errors[-max(1, updates // 10):]))

    def action_mse(self, data: LabelledStates, chunk: int = 256) -> float:
        """Mean action MSE of the deterministic policy against the oracle over every state in ``data``."""
        return float(self.action_mse_by_parameter(data, chunk).mean())

    @torch.no_grad()
    def action_mse_by_parameter(self, data: LabelledStates, chunk: int = 256) -> npt.NDArray[np.float64]:
        """Action MSE of the deterministic policy against the oracle per parameter [P], over every state in ``data``."""
        sums = []
        for start in range(0, len(data), chunk):
            rows = slice(start, min(start + chunk, len(data)))
            target, current, params, oracle = (tensor.to(self.device) for tensor in data.tensors(rows))
            action = self.policy(self.observer(target, current), params)
            sums.append((action - oracle).square().sum(dim=0).double())
        return (torch.stack(sums).sum(dim=0) / len(data)).cpu().numpy()
