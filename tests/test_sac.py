"""SAC: squashed-Gaussian exploration only when asked, the tanh log-prob correction, truncation bootstrapped,
exact Polyak targets, entropy tuning, the critic warm-up, exact resume, and learning a bandit whose best step is known.

The tiny networks and batches here are shared with tests/test_td3.py.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from torch import nn

from synthmatch.features import FeatureSettings
from synthmatch.training.algorithm import ALGORITHMS, Algorithm, Batch, algorithm_class, polyak_update
from synthmatch.training.networks import Critic, NetworkConfig, Policy, build_observer
from synthmatch.training.sac import SAC, SacConfig, sample_squashed_gaussian

torch.set_num_threads(1)

FEATURES = FeatureSettings(n_mels=16)
FRAMES = 8
NETWORKS = NetworkConfig(embed_dim=16, channels=8, hidden=32)


def tiny_networks(params: int, seed: int = 0) -> tuple[nn.Module, Policy, Critic]:
    """A tiny observer (16 mels x 8 frames), policy and twin critic for ``params`` parameters, seeded."""
    torch.manual_seed(seed)
    size, hidden = NETWORKS.embed_dim, NETWORKS.hidden
    return build_observer(FEATURES, FRAMES, NETWORKS), Policy(size, params, hidden), Critic(size, params, hidden)


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


def make_sac(params: int = 3, seed: int = 0, **config: float) -> SAC:
    """SAC around tiny networks, no critic warm-up unless ``config`` asks."""
    return SAC(*tiny_networks(params, seed), SacConfig(**{"critic_warmup_updates": 0, **config}), seed=seed)


def test_registry_builds_sac_and_suggests_the_closest_name() -> None:
    assert algorithm_class("sac") is SAC
    assert set(ALGORITHMS) == {"sac", "td3"}
    with pytest.raises(ValueError, match=r"unknown algorithm 'sacc' \(did you mean 'sac'\?\); known: sac, td3"):
        algorithm_class("sacc")


@pytest.mark.parametrize(("field", "value", "valid"), [("gamma", 1.0, "[0, 1)"), ("alpha", 0.0, "(0, inf)"),
                                                     ("tau", 0.0, "(0, 1]")])
def test_config_out_of_range_names_the_field_value_and_range(field: str, value: float, valid: str) -> None:
    with pytest.raises(ValueError, match=rf"SacConfig\.{field} = {value} is outside {re.escape(valid)}; the default"):
        SacConfig(**{field: value})


def test_without_exploration_acts_as_the_exported_policy_and_deterministically() -> None:
    sac = make_sac()
    obs = observations(replay_batch(5, 3))
    observer, policy = sac.policy_modules()
    with torch.no_grad():
        exported = policy(observer(torch.from_numpy(obs["target"]), torch.from_numpy(obs["current"])),
                          torch.from_numpy(obs["params"])).numpy()
    first, second = sac.act(obs, explore=False), sac.act(obs, explore=False)
    assert first.dtype == np.float32 and first.shape == (5, 3)
    np.testing.assert_array_equal(first, exported)  # raw dB in, no extra normalisation, no max_step scaling
    np.testing.assert_array_equal(first, second)


def test_exploring_samples_the_squashed_gaussian_around_the_mean() -> None:
    sac = make_sac(params=2)
    one = replay_batch(1, 2)
    obs = {key: np.repeat(value, 4000, axis=0) for key, value in observations(one).items()}
    with torch.no_grad():
        embedding = sac.observer(one["target"], one["current"])
        mean, log_std = sac.policy.distribution_parameters(embedding, one["params"])
    actions = sac.act(obs, explore=True)
    assert np.all(np.abs(actions) <= 1.0)
    pre_tanh = np.arctanh(np.clip(actions.astype(np.float64), -1 + 1e-7, 1 - 1e-7))
    np.testing.assert_allclose(pre_tanh.mean(0), mean[0].numpy(), atol=0.1)
    np.testing.assert_allclose(pre_tanh.std(0), log_std[0].exp().numpy(), rtol=0.1)
    assert not np.array_equal(actions, sac.act(obs, explore=True))


def test_log_prob_is_the_gaussian_minus_the_tanh_jacobian_and_finite_when_saturated() -> None:
    mean, log_std = torch.tensor([[0.3, -0.5]]).repeat(1000, 1), torch.tensor([[-1.0, -0.5]]).repeat(1000, 1)
    action, log_prob = sample_squashed_gaussian(mean, log_std, torch.Generator().manual_seed(0))
    pre_tanh = torch.atanh(action.double())
    gaussian = torch.distributions.Normal(mean.double(), log_std.double().exp()).log_prob(pre_tanh)
    expected = (gaussian - torch.log1p(-action.double().square())).sum(-1)
    torch.testing.assert_close(log_prob.double(), expected, atol=1e-3, rtol=1e-4)
    _, saturated = sample_squashed_gaussian(torch.full((4, 2), 30.0), torch.zeros(4, 2), torch.Generator())
    assert torch.all(torch.isfinite(saturated))


def test_td_target_bootstraps_truncated_transitions_and_stops_at_terminated_ones() -> None:
    sac = make_sac(gamma=0.9)
    batch = replay_batch(6, 3)
    sac.generator.manual_seed(7)
    bootstrapped = sac.td_target(batch)
    terminal = sac.td_target(batch | {"terminated": torch.ones(6)})
    torch.testing.assert_close(terminal, batch["reward"])
    with torch.no_grad():
        next_embedding = sac.observer(batch["next_target"], batch["next_current"])
        mean, log_std = sac.policy.distribution_parameters(next_embedding, batch["next_params"])
        action, log_prob = sample_squashed_gaussian(mean, log_std, torch.Generator().manual_seed(7))
        target_embedding = sac.target_observer(batch["next_target"], batch["next_current"])
        q1, q2 = sac.target_critic(target_embedding, batch["next_params"], action)
    expected = batch["reward"] + 0.9 * (torch.min(q1, q2) - sac.alpha * log_prob)
    torch.testing.assert_close(bootstrapped, expected)
    assert not torch.allclose(bootstrapped, terminal)


def test_target_networks_move_by_polyak_averaging_with_tau() -> None:
    sac = make_sac(tau=0.3)
    online_before = {"observer": parameters(sac.observer), "critic": parameters(sac.critic)}
    sac.update(replay_batch(8, 3))
    for name in ("observer", "critic"):
        online, target = getattr(sac, name), getattr(sac, f"target_{name}")
        assert changed(online, online_before[name])
        for old, new, averaged in zip(online_before[name], online.parameters(), target.parameters(), strict=True):
            torch.testing.assert_close(averaged, 0.7 * old + 0.3 * new, atol=1e-7, rtol=1e-6)


def test_polyak_update_with_tau_one_copies_and_with_small_tau_barely_moves() -> None:
    source, target = nn.Linear(2, 2), nn.Linear(2, 2)
    before = parameters(target)
    polyak_update(target, source, 0.01)
    for old, new, averaged in zip(before, source.parameters(), target.parameters(), strict=True):
        torch.testing.assert_close(averaged, 0.99 * old + 0.01 * new)
    polyak_update(target, source, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(target.parameters(), source.parameters(), strict=True))


def test_critic_warmup_trains_only_the_critic_then_the_actor_and_observer_follow() -> None:
    sac = make_sac(critic_warmup_updates=2)
    policy, observer, critic = parameters(sac.policy), parameters(sac.observer), parameters(sac.critic)
    for seed in range(2):
        metrics = sac.update(replay_batch(8, 3, seed))
        assert "actor_loss" not in metrics
    assert not changed(sac.policy, policy) and not changed(sac.observer, observer)
    assert changed(sac.critic, critic)
    metrics = sac.update(replay_batch(8, 3, 2))
    assert {"actor_loss", "entropy", "alpha_loss", "critic_loss", "q1", "q2", "alpha"} <= set(metrics)
    assert changed(sac.policy, policy) and changed(sac.observer, observer)


def test_observer_learns_from_the_critic_loss_only() -> None:
    sac = make_sac()
    actor_parameters = {id(p) for group in sac.actor_optimiser.param_groups for p in group["params"]}
    critic_parameters = {id(p) for group in sac.critic_optimiser.param_groups for p in group["params"]}
    assert actor_parameters == {id(p) for p in sac.policy.parameters()}
    assert {id(p) for p in sac.observer.parameters()} <= critic_parameters


@pytest.mark.parametrize(("entropy_per_param", "direction"), [(5.0, 1.0), (-50.0, -1.0)])
def test_alpha_rises_when_entropy_is_below_target_and_falls_when_above(
    entropy_per_param: float, direction: float
) -> None:
    sac = make_sac(alpha=0.1, alpha_lr=0.01, target_entropy_per_param=entropy_per_param)
    for seed in range(5):
        sac.update(replay_batch(16, 3, seed))
    assert direction * math.log(sac.alpha.item() / 0.1) > 0.04  # five Adam steps of 0.01 on log(alpha)


def test_alpha_stays_fixed_without_autotune() -> None:
    sac = make_sac(alpha=0.1, autotune=False)
    for seed in range(3):
        metrics = sac.update(replay_batch(8, 3, seed))
    assert metrics["alpha"] == pytest.approx(0.1) and "alpha_loss" not in metrics


def test_resuming_from_state_dict_continues_exactly() -> None:
    first = make_sac(seed=0)
    for seed in range(3):
        first.update(replay_batch(8, 3, seed))
    resumed = make_sac(seed=1)
    resumed.load_state_dict(saved_and_loaded(first.state_dict()))
    batch = replay_batch(8, 3, 9)
    assert first.update(batch) == resumed.update(batch)
    obs = observations(batch)
    np.testing.assert_array_equal(first.act(obs, explore=True), resumed.act(obs, explore=True))


def test_learns_the_best_step_of_a_bandit() -> None:
    sac = make_sac(params=1, actor_lr=1e-3, critic_lr=1e-3, critic_warmup_updates=50)
    np.testing.assert_array_less(0.3, np.abs(bandit_steps(sac) - [0.6, -0.2]).max())  # not solved at the start
    learn_bandit(sac)
    np.testing.assert_allclose(bandit_steps(sac), [0.6, -0.2], atol=0.1)
