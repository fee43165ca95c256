"""SAC: squashed-Gaussian exploration only when asked, the tanh log-prob correction, truncation bootstrapped,
exact Polyak targets and entropy tuning; what SAC shares with TD3 is tested in tests/test_actor_critic.py.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from test_actor_critic import changed, make_sac, observations, parameters, replay_batch, tiny_networks
from torch import nn

from synthmatch.training.actor_critic import polyak_update
from synthmatch.training.algorithm import ALGORITHMS, algorithm_class
from synthmatch.training.config import TrainConfig
from synthmatch.training.sac import SAC, SacConfig, sample_squashed_gaussian

torch.set_num_threads(1)


def test_registry_builds_sac_and_suggests_the_closest_name() -> None:
    assert algorithm_class("sac") is SAC
    assert set(ALGORITHMS) == {"sac", "td3", "probe"}
    for name, entry in ALGORITHMS.items():  # each has its table of settings in a training config
        config = TrainConfig(algo=name)
        if name != "probe":  # the probe's worker measurement is tested in test_probe.py
            assert entry.cls(*tiny_networks(3), config.algorithm_config).probe is None
        assert isinstance(config.algorithm_config, entry.settings) and config.algorithm_config is getattr(config, name)
    with pytest.raises(ValueError, match=r"unknown algorithm 'sacc'; did you mean sac\?"):
        algorithm_class("sacc")


@pytest.mark.parametrize(("field", "value", "valid"), [("gamma", 1.0, "[0, 1)"), ("alpha", 0.0, "(0, inf)"),
                                                     ("tau", 0.0, "(0, 1]")])
def test_config_out_of_range_names_the_field_value_and_range(field: str, value: float, valid: str) -> None:
    with pytest.raises(ValueError, match=rf"SacConfig\.{field} = {value} is outside {re.escape(valid)}; the default"):
        SacConfig(**{field: value})


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
