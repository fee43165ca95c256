"""The probed policy gradient: the probe measures the reward's slope on the synth, and the algorithm follows it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_actor_critic import changed, observations, parameters, replay_batch, saved_and_loaded, tiny_networks

from synthmatch.training.algorithm import algorithm_class
from synthmatch.training.checkpoints import restore_generator
from synthmatch.training.env_worker import EnvSettings, EnvWorker
from synthmatch.training.environment import Episode, MatchTask
from synthmatch.training.probe import ProbeConfig, ProbedGradient
from synthmatch.training.reward_probe import ProbeSettings, reward_gradient

torch.set_num_threads(1)


def make_probe(params: int = 3, seed: int = 0, **config: float) -> ProbedGradient:
    """The probed gradient around tiny networks."""
    return ProbedGradient(*tiny_networks(params, seed), ProbeConfig(**config), seed=seed)


@pytest.mark.parametrize("gap", [0.25, -0.25])
def test_probe_points_the_cutoff_back_towards_the_target_and_leaves_the_episode_alone(gap: float) -> None:
    task = MatchTask("builtin")
    cutoff = task.definition.parameter_names.index("cutoff_hz")
    target = task.random_patch(np.random.default_rng(0))
    target[cutoff] = 0.5
    start = target.copy()
    start[cutoff] -= gap  # only the cutoff is off: raising it closes a positive gap
    batch = task.begin([Episode(note=60, start_params=start, target_params=target)])
    params, distance = batch.params.copy(), batch.distance.copy()
    gradient = reward_gradient(task, batch, np.zeros((1, 20)), ProbeSettings(64, 0.3), np.random.default_rng(1))
    assert gradient.shape == (1, 20) and gradient.dtype == np.float32
    assert np.sign(gradient[0, cutoff]) == np.sign(gap)
    np.testing.assert_array_equal(batch.params, params)
    np.testing.assert_array_equal(batch.distance, distance)


def test_worker_steps_probe_only_when_asked_and_reproducibly_from_the_reset_seed() -> None:
    settings, actions = ProbeSettings(2, 0.3), np.zeros((4, 20), np.float32)
    gradients = []
    with EnvWorker(EnvSettings(4, "builtin", 32, 0.1)) as env:
        for _ in range(2):
            env.reset(7)
            *_, infos = env.step(actions, settings)
            gradients.append(infos["reward_gradient"])
        env.step_async(actions)
        assert "reward_gradient" not in env.step_wait()[4]
    assert gradients[0].shape == (4, 20) and np.any(gradients[0] != 0.0)
    np.testing.assert_array_equal(gradients[0], gradients[1])


def test_update_follows_the_reward_gradient_where_no_oracle_pulls() -> None:
    probe = make_probe(actor_lr=1e-3, bc_weight=0.0)
    batch = replay_batch(32, 3)
    batch["reward_gradient"] = torch.tensor([[1.0, 0.0, -1.0]]).repeat(32, 1)
    batch["oracle_action"] = torch.full((32, 3), float("nan"))  # recordings: the slope alone teaches
    obs = observations(batch)
    before = probe.act(obs, explore=False)
    for _ in range(30):
        metrics = probe.update(batch)
    after = probe.act(obs, explore=False)
    assert np.all(after[:, 0] > before[:, 0] + 0.1) and np.all(after[:, 2] < before[:, 2] - 0.1)
    assert "oracle_mse" not in metrics and metrics["reward_gradient_norm"] == pytest.approx(np.sqrt(2))


def test_anchor_pulls_towards_the_oracle_step_against_a_flat_gradient() -> None:
    probe = make_probe(actor_lr=1e-3, bc_weight=1.0)
    batch = replay_batch(32, 3) | {"reward_gradient": torch.zeros(32, 3), "oracle_action": torch.full((32, 3), 0.5)}
    first = probe.update(batch)["oracle_mse"]
    for _ in range(60):
        last = probe.update(batch)["oracle_mse"]
    assert last < 0.1 * first


def test_frozen_observer_stays_put_and_a_resumed_algorithm_acts_the_same() -> None:
    probe = make_probe(observer_lr=0.0)
    observer = parameters(probe.observer)
    batch = replay_batch(8, 3) | {"reward_gradient": torch.ones(8, 3)}
    probe.update(batch)
    assert not changed(probe.observer, observer)
    resumed = make_probe(seed=5, observer_lr=0.0)
    resumed.load_state_dict(saved_and_loaded(probe.state_dict()))
    obs = observations(batch)
    np.testing.assert_array_equal(resumed.act(obs, explore=False), probe.act(obs, explore=False))
    assert resumed.updates == 1


def test_registry_and_config_checks() -> None:
    assert algorithm_class("probe") is ProbedGradient
    assert make_probe(pairs=2, scale=0.2).probe == ProbeSettings(2, 0.2)  # what the worker measures for it
    with pytest.raises(ValueError, match=r"ProbeConfig\.pairs = 0 is outside \[1, inf\)"):
        ProbeConfig(pairs=0)
    explore = make_probe(exploration_noise=0.5)
    obs = observations(replay_batch(4, 3))
    assert not np.array_equal(explore.act(obs, explore=True), explore.act(obs, explore=False))
    np.testing.assert_array_equal(make_probe().act(obs, explore=True), make_probe().act(obs, explore=False))


def test_a_generator_state_saved_on_another_kind_of_device_reseeds_reproducibly() -> None:
    """A CUDA generator's 16-byte state cannot be a CPU generator's: a run moved from a GPU resumes all the same."""
    cuda_like = torch.arange(16, dtype=torch.uint8)
    draws = []
    for _ in range(2):
        generator = torch.Generator().manual_seed(3)
        restore_generator(generator, cuda_like)
        draws.append(torch.rand(4, generator=generator))
    torch.testing.assert_close(draws[0], draws[1])
    assert not torch.equal(draws[0], torch.rand(4, generator=torch.Generator().manual_seed(3)))
    same_kind = torch.Generator().manual_seed(9).get_state()
    generator = torch.Generator()
    restore_generator(generator, same_kind)
    expected = torch.rand(4, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(torch.rand(4, generator=generator), expected)
    probe = make_probe()
    probe.load_state_dict(make_probe(seed=1).state_dict() | {"generator": cuda_like})  # a checkpoint from a GPU
    assert probe.act(observations(replay_batch(2, 3)), explore=True).shape == (2, 3)
