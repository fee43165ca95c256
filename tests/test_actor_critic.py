"""What SAC and TD3 share, tested once over both: the exported policy when not exploring, the critic warm-up, exact
resume, and learning a bandit whose best step is known.

The tiny networks, batches and the bandit here are also used by tests/test_sac.py and tests/test_td3.py.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from torch import nn

from synthmatch.features import FeatureSettings
from synthmatch.training.actor_critic import Batch
from synthmatch.training.algorithm import Algorithm
from synthmatch.training.networks import Critic, NetworkConfig, Policy, build_observer
from synthmatch.training.sac import SAC, SacConfig
from synthmatch.training.td3 import TD3, Td3Config

torch.set_num_threads(1)

FEATURES = FeatureSettings(n_mels=16)
FRAMES = 8
NETWORKS = NetworkConfig(embed_dim=16, channels=8, hidden=32)


def tiny_networks(params: int, seed: int = 0) -> tuple[nn.Module, Policy, Critic]:
    """A tiny observer (16 mels x 8 frames), policy and twin critic for ``params`` parameters, seeded."""
    torch.manual_seed(seed)
    size, hidden = NETWORKS.embed_dim, NETWORKS.hidden
    return build_observer(FEATURES, FRAMES, NETWORKS), Policy(size, params, hidden), Critic(size, params, hidden)


def make_sac(params: int = 3, seed: int = 0, **config: float) -> SAC:
    """SAC around tiny networks, no critic warm-up unless ``config`` asks."""
    return SAC(*tiny_networks(params, seed), SacConfig(**{"critic_warmup_updates": 0, **config}), seed=seed)


def make_td3(params: int = 3, seed: int = 0, **config: float) -> TD3:
    """TD3 around tiny networks, no critic warm-up unless ``config`` asks."""
    return TD3(*tiny_networks(params, seed), Td3Config(**{"critic_warmup_updates": 0, **config}), seed=seed)


def replay_batch(size: int, params: int, seed: int = 0, terminated: float = 0.0) -> Batch:
    """Random transitions: mels in [-80, 20] dB, patches in [0, 1], actions in [-1, 1], rewards ~ N(0, 1)."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(shape: tuple[int, ...], low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(shape, generator=generator)

    mel, patch = (size, FEATURES.n_mels, FRAMES), (size, params)
    return {
        "target": uniform(mel, -80.0, 20.0), "current": uniform(mel, -80.0, 20.0), "params": uniform(patch, 0.0, 1.0),
        "action": uniform(patch, -1.0, 1.0), "reward": torch.randn(size, generator=generator),
        "next_target": uniform(mel, -80.0, 20.0), "next_current": uniform(mel, -80.0, 20.0),
        "next_params": uniform(patch, 0.0, 1.0), "terminated": torch.full((size,), terminated),
    }


def observations(batch: Batch) -> dict[str, npt.NDArray[np.float32]]:
    """The batch's observations as the environment gives them: numpy target, current and params."""
    return {key: batch[key].numpy() for key in ("target", "current", "params")}


def best_bandit_action(params: torch.Tensor) -> torch.Tensor:
    """The bandit's best step [B, 1] for patches [B, 1]: 0.6 at params 0, -0.2 at params 1."""
    return 0.6 - 0.8 * params


def learn_bandit(algorithm: Algorithm, updates: int = 300, size: int = 64) -> None:
    """Update on one-step episodes (terminated) whose reward is -(action - best)^2, actions uniform (off-policy)."""
    generator = torch.Generator().manual_seed(1)
    silence = torch.zeros(size, FEATURES.n_mels, FRAMES)
    for _ in range(updates):
        params = torch.rand(size, 1, generator=generator)
        action = 2.0 * torch.rand(size, 1, generator=generator) - 1.0
        reward = -(action - best_bandit_action(params)).square().squeeze(-1)
        algorithm.update({
            "target": silence, "current": silence, "params": params, "action": action, "reward": reward,
            "next_target": silence, "next_current": silence, "next_params": params, "terminated": torch.ones(size),
        })


def bandit_steps(algorithm: Algorithm) -> npt.NDArray[np.float32]:
    """The deterministic steps [2] the algorithm takes on the bandit at params 0 and 1."""
    silence = np.zeros((2, FEATURES.n_mels, FRAMES), np.float32)
    obs = {"target": silence, "current": silence, "params": np.array([[0.0], [1.0]], np.float32)}
    return algorithm.act(obs, explore=False)[:, 0]


def parameters(module: nn.Module) -> list[torch.Tensor]:
    """Copies of a module's parameters, to compare before and after an update."""
    return [p.detach().clone() for p in module.parameters()]


def changed(module: nn.Module, before: list[torch.Tensor]) -> bool:
    """Whether any parameter of ``module`` differs from ``before``."""
    return any(not torch.equal(p, b) for p, b in zip(module.parameters(), before, strict=True))


def saved_and_loaded(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` through torch.save and torch.load, as a checkpoint file takes it."""
    file = io.BytesIO()
    torch.save(state, file)
    file.seek(0)
    loaded: dict[str, Any] = torch.load(file)
    return loaded


@dataclass(frozen=True)
class Case:
    """One algorithm under the shared tests, and what it needs or reports that the other does not."""

    make: Callable[..., SAC | TD3]
    actor_metrics: frozenset[str]
    """Metrics an update reports once the actor learns (after the critic warm-up)."""
    warmup: dict[str, float] = field(default_factory=dict)
    """Extra config for the warm-up test."""
    bandit: dict[str, float] = field(default_factory=dict)
    """Extra config for the bandit."""


CASES = [
    pytest.param(Case(make_sac, frozenset({"actor_loss", "entropy", "alpha_loss", "critic_loss", "q1", "q2", "alpha"})),
                 id="sac"),
    pytest.param(Case(make_td3, frozenset({"actor_loss"}), warmup={"policy_delay": 1}, bandit={"policy_noise": 0.05}),
                 id="td3"),
]


@pytest.mark.parametrize("case", CASES)
def test_without_exploration_acts_as_the_exported_policy_and_deterministically(case: Case) -> None:
    algorithm = case.make()
    obs = observations(replay_batch(5, 3))
    observer, policy = algorithm.policy_modules()
    with torch.no_grad():
        exported = policy(observer(torch.from_numpy(obs["target"]), torch.from_numpy(obs["current"])),
                          torch.from_numpy(obs["params"])).numpy()
    first, second = algorithm.act(obs, explore=False), algorithm.act(obs, explore=False)
    assert first.dtype == np.float32 and first.shape == (5, 3)
    np.testing.assert_array_equal(first, exported)  # raw dB in, no extra normalisation, no max_step scaling
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("case", CASES)
def test_critic_warmup_trains_only_the_critic_then_the_actor_and_observer_follow(case: Case) -> None:
    algorithm = case.make(critic_warmup_updates=2, **case.warmup)
    policy, observer = parameters(algorithm.policy), parameters(algorithm.observer)
    critic = parameters(algorithm.critic)
    for seed in range(2):
        assert "actor_loss" not in algorithm.update(replay_batch(8, 3, seed))
    assert not changed(algorithm.policy, policy) and not changed(algorithm.observer, observer)
    assert changed(algorithm.critic, critic)
    assert case.actor_metrics <= set(algorithm.update(replay_batch(8, 3, 2)))
    assert changed(algorithm.policy, policy) and changed(algorithm.observer, observer)


@pytest.mark.parametrize("case", CASES)
def test_resuming_from_state_dict_continues_exactly(case: Case) -> None:
    first = case.make(seed=0)
    for seed in range(3):
        first.update(replay_batch(8, 3, seed))
    resumed = case.make(seed=1)
    resumed.load_state_dict(saved_and_loaded(first.state_dict()))
    batch = replay_batch(8, 3, 9)
    assert first.update(batch) == resumed.update(batch)
    obs = observations(batch)
    np.testing.assert_array_equal(first.act(obs, explore=True), resumed.act(obs, explore=True))


@pytest.mark.parametrize("case", CASES)
def test_learns_the_best_step_of_a_bandit(case: Case) -> None:
    algorithm = case.make(params=1, actor_lr=1e-3, critic_lr=1e-3, critic_warmup_updates=50, **case.bandit)
    np.testing.assert_array_less(0.3, np.abs(bandit_steps(algorithm) - [0.6, -0.2]).max())  # not solved at the start
    learn_bandit(algorithm)
    np.testing.assert_allclose(bandit_steps(algorithm), [0.6, -0.2], atol=0.1)
