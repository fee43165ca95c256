"""TD3: exploration noise only when asked, target policy smoothing, truncation bootstrapped, delayed actor and
Polyak targets; what TD3 shares with SAC is tested in tests/test_actor_critic.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_actor_critic import changed, make_td3, observations, parameters, replay_batch

from synthmatch.training.actor_critic import anchored_actor_loss
from synthmatch.training.algorithm import algorithm_class
from synthmatch.training.td3 import TD3, Td3Config

torch.set_num_threads(1)


def test_registry_builds_td3_and_suggests_the_closest_name() -> None:
    assert algorithm_class("td3") is TD3
    with pytest.raises(ValueError, match=r"unknown algorithm 'td4'; did you mean td3\?"):
        algorithm_class("td4")


def test_config_out_of_range_names_the_field_value_and_range() -> None:
    with pytest.raises(ValueError, match=r"Td3Config\.policy_delay = 0 is outside \[1, inf\)"):
        Td3Config(policy_delay=0)


def test_exploring_adds_gaussian_noise_of_the_configured_std_and_stays_in_bounds() -> None:
    td3 = make_td3(exploration_noise=0.1)
    obs = {key: np.repeat(value, 2000, axis=0) for key, value in observations(replay_batch(1, 3)).items()}
    deterministic = td3.act(obs, explore=False)
    noise = td3.act(obs, explore=True) - deterministic
    assert np.all(np.abs(deterministic) < 0.6)  # far enough from the bounds that clipping is rare
    np.testing.assert_allclose(noise.mean(0), 0.0, atol=0.01)
    np.testing.assert_allclose(noise.std(0), 0.1, rtol=0.1)
    loud = make_td3(exploration_noise=5.0).act(obs, explore=True)
    assert np.all(np.abs(loud) <= 1.0) and np.any(np.abs(loud) == 1.0)


def test_td_target_bootstraps_truncated_transitions_and_stops_at_terminated_ones() -> None:
    td3 = make_td3(gamma=0.9, policy_noise=0.0)
    batch = replay_batch(6, 3)
    bootstrapped = td3.td_target(batch)
    terminal = td3.td_target(batch | {"terminated": torch.ones(6)})
    torch.testing.assert_close(terminal, batch["reward"])
    with torch.no_grad():
        embedding = td3.target_observer(batch["next_target"], batch["next_current"])
        q1, q2 = td3.target_critic(embedding, batch["next_params"], td3.target_policy(embedding, batch["next_params"]))
    torch.testing.assert_close(bootstrapped, batch["reward"] + 0.9 * torch.min(q1, q2))
    assert not torch.allclose(bootstrapped, terminal)


def test_target_policy_smoothing_adds_clipped_noise_to_the_target_action() -> None:
    td3 = make_td3(gamma=0.9, policy_noise=100.0, noise_clip=0.05)
    batch = replay_batch(6, 3)
    td3.generator.manual_seed(3)
    smoothed = td3.td_target(batch)
    with torch.no_grad():
        embedding = td3.target_observer(batch["next_target"], batch["next_current"])
        action = td3.target_policy(embedding, batch["next_params"])
        noise = 100.0 * torch.randn(action.shape, generator=torch.Generator().manual_seed(3))
        assert torch.all(noise.abs() > 0.05)  # every draw is clipped: the target moves by exactly +-0.05
        q1, q2 = td3.target_critic(embedding, batch["next_params"], (action + noise.clamp(-0.05, 0.05)).clamp(-1, 1))
    torch.testing.assert_close(smoothed, batch["reward"] + 0.9 * torch.min(q1, q2))


def test_actor_and_targets_move_every_policy_delay_updates_by_polyak_averaging() -> None:
    td3 = make_td3(tau=0.3, policy_delay=2)
    initial = {name: parameters(getattr(td3, name)) for name in ("observer", "policy", "critic")}
    first = td3.update(replay_batch(8, 3, 0))
    assert "actor_loss" not in first and not changed(td3.policy, initial["policy"])
    for name in ("observer", "policy", "critic"):
        assert not changed(getattr(td3, f"target_{name}"), initial[name])
    second = td3.update(replay_batch(8, 3, 1))
    assert "actor_loss" in second
    for name in ("observer", "policy", "critic"):
        online, target = getattr(td3, name), getattr(td3, f"target_{name}")
        assert changed(online, initial[name])
        for old, new, averaged in zip(initial[name], online.parameters(), target.parameters(), strict=True):
            torch.testing.assert_close(averaged, 0.7 * old + 0.3 * new, atol=1e-7, rtol=1e-6)


def test_anchored_actor_loss_normalises_q_and_anchors_only_rows_with_a_known_oracle() -> None:
    q = torch.tensor([2.0, -1.0, 3.0, 0.0])
    action = torch.zeros(4, 2, requires_grad=True)
    oracle = torch.tensor([[1.0, 1.0], [float("nan")] * 2, [0.0, -1.0], [float("nan")] * 2])
    plain, metrics = anchored_actor_loss(q, action, None, 5.0)
    assert plain.item() == pytest.approx(-1.0 / 1.5) and "oracle_mse" not in metrics
    loss, metrics = anchored_actor_loss(q, action, oracle, 2.0)
    assert metrics["oracle_mse"] == pytest.approx(0.75)  # (1 + 1 + 0 + 1) / 4 over the two known rows
    assert loss.item() == pytest.approx(-1.0 / 1.5 + 2.0 * 0.75)
    loss.backward()
    assert action.grad is not None and torch.all(action.grad[[1, 3]] == 0.0)  # unknown rows: no pull
    assert torch.all(action.grad[0] < 0.0)  # pulled up toward the oracle's +1


def test_a_heavy_oracle_anchor_makes_the_actor_follow_the_oracle_step() -> None:
    batch = replay_batch(32, 3, seed=4)
    oracle = torch.full((32, 3), 0.5)
    anchored, free = make_td3(bc_weight=100.0, policy_delay=1), make_td3(policy_delay=1)
    for _ in range(150):
        anchored.update(batch | {"oracle_action": oracle})
        free.update(batch | {"oracle_action": oracle})
    obs = observations(batch)
    anchored_gap = np.abs(anchored.act(obs, explore=False) - 0.5).mean()
    assert anchored_gap < 0.1
    assert anchored_gap < np.abs(free.act(obs, explore=False) - 0.5).mean()


def test_td3_learns_from_stored_embeddings_without_touching_the_observer() -> None:
    td3 = make_td3(observer_lr=0.0, policy_delay=1)
    observer = parameters(td3.observer)
    critic, policy = parameters(td3.critic), parameters(td3.policy)
    batch = replay_batch(16, 3)
    embedded = {key: value for key, value in batch.items() if "target" not in key and "current" not in key}
    embedded |= {"embedding": torch.randn(16, 16), "next_embedding": torch.randn(16, 16)}
    metrics = td3.update(embedded)
    assert "actor_loss" in metrics and not changed(td3.observer, observer)
    assert changed(td3.critic, critic) and changed(td3.policy, policy)
