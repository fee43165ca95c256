"""The imitation warm start: the oracle's step, the DAgger collection, and that cloning it teaches the policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthmatch.training.config import ImitationConfig
from synthmatch.training.env_worker import EnvSettings, EnvWorker
from synthmatch.training.environment import MatchTask
from synthmatch.training.imitation import Demonstrations, Imitation, collect, oracle_actions
from synthmatch.training.networks import NetworkConfig, Policy, build_observer
from synthmatch.training.validation import validate, validation_batch
from synthmatch.training.vector_environment import SynthMatchVectorEnv

MAX_STEP = 0.1
MEL_SHAPE = (64, 63)
PARAMS = 20


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def test_oracle_step_points_at_the_target_and_is_clipped() -> None:
    params = np.array([[0.5, 0.5, 0.5, 0.0]])
    target = np.array([[0.55, 0.2, 0.5, 1.0]])
    np.testing.assert_allclose(oracle_actions(params, target, MAX_STEP), [[0.5, -1.0, 0.0, 1.0]], atol=1e-6)


def test_the_oracle_matches_every_episode_within_its_straight_line_steps() -> None:
    env = SynthMatchVectorEnv(8, max_episode_steps=None, max_step=MAX_STEP)
    obs, info = env.reset(seed=3)
    matched = np.zeros(8, dtype=bool)
    for _ in range(int(np.ceil(1 / MAX_STEP))):  # no parameter is further than 1 from its target
        actions = oracle_actions(obs["params"], info["target_params"], MAX_STEP)
        obs, _, terminated, _, info = env.step(actions)
        matched |= terminated
    assert matched.all()


def test_dagger_collection_labels_the_states_the_policy_visits() -> None:
    data = Demonstrations(16, MEL_SHAPE, PARAMS, MAX_STEP)
    with EnvWorker(EnvSettings(4, "builtin", 32, MAX_STEP)) as env:
        figures = collect(env, data, 16, seed=0, actor=lambda obs: np.zeros((4, PARAMS), np.float32))
    # A policy that never moves stays at its start: every state of an episode has the start patch, and each is
    # labelled with the oracle's step from there, not from where the oracle would have gone.
    np.testing.assert_array_equal(data.params[0::4], np.repeat(data.params[:1], 4, axis=0))
    labels = data.actions(slice(0, 16))
    np.testing.assert_allclose(labels[0::4], np.repeat(labels[:1], 4, axis=0))
    assert figures["action_mse"] == pytest.approx(float(np.square(labels).mean()), rel=1e-5)
    assert figures["env_steps"] == 16


def test_hindsight_targets_are_other_states_at_the_same_note_labelled_towards_their_patch() -> None:
    data = Demonstrations(12, (2, 3), 2, MAX_STEP)
    for start in range(0, 12, 4):
        rows = np.arange(start, start + 4)
        obs = {
            "target": np.full((4, 2, 3), -50.0, np.float32),
            "current": np.broadcast_to(rows[:, None, None], (4, 2, 3)).astype(np.float32),  # each state's id
            "params": np.stack([rows / 12, 1 - rows / 12], axis=1).astype(np.float32),
        }
        data.add(obs, {"target_params": np.full((4, 2), 0.5), "note": 40 + rows % 2}, 4)

    target, current, params, action = data.sample(64, np.random.default_rng(0), hindsight=1.0)
    for row in range(64):
        me, other = int(current[row, 0, 0]), int(target[row, 0, 0])
        assert (me - other) % 2 == 0  # the same note
        expected = oracle_actions(data.params[me], data.params[other], MAX_STEP)
        np.testing.assert_allclose(action[row].numpy(), expected, atol=1e-6)
    assert len({int(t) for t in target[:, 0, 0]}) > 4  # many targets, not a few


def test_behaviour_cloning_reduces_action_error_and_validation_distance() -> None:
    torch.manual_seed(0)
    data, held_out = Demonstrations(1024, MEL_SHAPE, PARAMS, MAX_STEP), Demonstrations(128, MEL_SHAPE, PARAMS, MAX_STEP)
    with EnvWorker(EnvSettings(16, "builtin", 16, MAX_STEP)) as env:
        collect(env, data, 1024, seed=1, actor=None)  # environment i is seeded with seed + i,
        collect(env, held_out, 128, seed=1000, actor=None)  # so these share no episode
    task = MatchTask("builtin", max_step=MAX_STEP)
    net = NetworkConfig(channels=8, embed_dim=64, hidden=64)
    observer, policy = build_observer(task.features, MEL_SHAPE[1], net), Policy(64, PARAMS, 64)
    imitation = Imitation(observer, policy, ImitationConfig(batch_size=64, lr=1e-3))
    episodes = validation_batch(task, 32, seed=0)
    mse_before = imitation.action_mse(held_out)
    distance_before = validate(task, observer, policy, episodes, 16).distance_median

    imitation.fit(data, 400, np.random.default_rng(0))

    assert imitation.action_mse(held_out) < 0.85 * mse_before
    assert validate(task, observer, policy, episodes, 16).distance_median < distance_before - 0.05
