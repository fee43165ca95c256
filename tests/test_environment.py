"""The Gymnasium environments: the API contract, determinism, the reward and episode end, and batch = singles."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils import seeding
from gymnasium.utils.env_checker import check_env, data_equivalence

from synthmatch.environment_registration import ENV_IDS, MAX_EPISODE_STEPS
from synthmatch.params import quantise_all
from synthmatch.synths import Synth, open_synth
from synthmatch.training.environment import (
    AUDIBLE_PEAK_DB,
    DEFAULT_MAX_STEP,
    DEFAULT_SUCCESS_BONUS,
    DEFAULT_SUCCESS_THRESHOLD,
    SynthMatchEnv,
    calibrate_success_threshold,
)
from synthmatch.training.vector_environment import SynthMatchVectorEnv

REGISTERED = sorted(i for i in gym.registry if i.startswith("synthmatch/"))


@pytest.fixture(scope="module")
def builtin() -> Synth:
    return open_synth("builtin")


def make(env_id: str, synth: Synth, **kwargs: Any) -> gym.Env[Any, Any]:
    return gym.make(env_id, synth=synth, **kwargs)


def rollout(env: gym.Env[Any, Any], seed: int, steps: int = 4) -> list[Any]:
    """Reset with ``seed`` and take ``steps`` seeded random actions; every reset and step result, in order."""
    record: list[Any] = [env.reset(seed=seed)]
    env.action_space.seed(seed)
    for _ in range(steps):
        record.append(env.step(env.action_space.sample()))
    return record


def oracle_action(target: np.ndarray, params: np.ndarray) -> np.ndarray:
    """The action that moves the patch straight towards the target, as far as one step allows."""
    return np.clip((target - params) / DEFAULT_MAX_STEP, -1.0, 1.0).astype(np.float32)


def test_every_id_in_registration_is_registered() -> None:
    assert sorted(ENV_IDS) == REGISTERED


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_checker_passes_without_warnings(env_id: str, builtin: Synth) -> None:
    env = make(env_id, builtin)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


@pytest.mark.vst3
def test_checker_passes_on_the_vst3_synth(nekobi_synth: Synth) -> None:
    check_env(SynthMatchEnv(synth=nekobi_synth), skip_render_check=True)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_gives_identical_rollouts(env_id: str, builtin: Synth) -> None:
    first, second = rollout(make(env_id, builtin), seed=7), rollout(make(env_id, builtin), seed=7)
    assert data_equivalence(first, second, exact=True)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_another_seed_gives_another_episode(env_id: str, builtin: Synth) -> None:
    env = make(env_id, builtin)
    _, info_a = env.reset(seed=1)
    _, info_b = env.reset(seed=2)
    assert not np.array_equal(info_a["target_params"], info_b["target_params"])


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_zero_action_keeps_the_patch_and_pays_nothing(env_id: str, builtin: Synth) -> None:
    env = make(env_id, builtin)
    obs, info = env.reset(seed=3)
    assert not info["is_success"]
    after, reward, terminated, truncated, step_info = env.step(np.zeros_like(env.action_space.sample()))
    np.testing.assert_array_equal(after["params"], obs["params"])
    assert reward == 0.0 and step_info["distance"] == info["distance"]
    assert not terminated and not truncated


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_stepping_towards_the_target_pays_and_ends_in_success(env_id: str, builtin: Synth) -> None:
    env = make(env_id, builtin)
    obs, info = env.reset(seed=4)
    start_distance, total, terminated, steps = info["distance"], 0.0, False, 0
    while not terminated and steps < MAX_EPISODE_STEPS:
        obs, reward, terminated, truncated, info = env.step(oracle_action(info["target_params"], obs["params"]))
        total += float(reward)
        steps += 1
    assert terminated and not truncated and info["is_success"]
    assert steps <= int(np.ceil(1 / DEFAULT_MAX_STEP))
    assert info["distance"] < DEFAULT_SUCCESS_THRESHOLD < start_distance
    assert total == pytest.approx(start_distance - info["distance"] + DEFAULT_SUCCESS_BONUS)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_the_registered_step_limit_truncates_without_terminating(env_id: str, builtin: Synth) -> None:
    env = make(env_id, builtin)
    assert env.spec is not None and env.spec.max_episode_steps == MAX_EPISODE_STEPS
    env.reset(seed=3)
    zeros = np.zeros_like(env.action_space.sample())
    ends = [env.step(zeros)[2:4] for _ in range(MAX_EPISODE_STEPS)]
    assert ends[-1] == (False, True)
    assert all(end == (False, False) for end in ends[:-1])


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_a_recording_as_target_is_matched_like_its_patch(env_id: str, builtin: Synth) -> None:
    env = make(env_id, builtin)
    patch = quantise_all(builtin.definition, np.random.default_rng(5).random(len(builtin.parameters)))
    recording = builtin.render(patch[None], 64)[0]
    obs_audio, info_audio = env.reset(seed=6, options={"target_audio": recording, "note": 64})
    obs_patch, info_patch = env.reset(seed=6, options={"target_params": patch, "note": 64})
    assert info_audio["target_params"] is None and info_audio["note"] == 64
    assert data_equivalence(obs_audio, obs_patch, exact=True)
    assert info_audio["distance"] == info_patch["distance"]
    _, info_default_note = env.reset(options={"target_audio": recording})
    assert info_default_note["note"] == builtin.definition.note.midi_note


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_default_start_is_the_definitions_defaults(env_id: str, builtin: Synth) -> None:
    obs, _ = make(env_id, builtin).reset(seed=0, options={"start": "default"})
    defaults = quantise_all(builtin.definition, np.array(builtin.definition.defaults_normalised()))
    np.testing.assert_array_equal(obs["params"], defaults.astype(np.float32))


def test_bad_options_and_actions_say_what_is_wrong(builtin: Synth) -> None:
    env = SynthMatchEnv(synth=builtin)
    with pytest.raises(ValueError, match="unknown reset option.*targt_params.*known: "):
        env.reset(options={"targt_params": np.zeros(3)})
    with pytest.raises(ValueError, match=r"start_params has shape \(3,\), expected \(20,\)"):
        env.reset(options={"start_params": np.zeros(3)})
    with pytest.raises(ValueError, match="note=200 .* 0..127"):
        env.reset(options={"note": 200})
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action has shape \(3,\), expected \(20,\)"):
        env.step(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="max_step 2.0 is outside"):
        SynthMatchEnv(synth=builtin, max_step=2.0)


def assert_same_observation(batched: dict[str, np.ndarray], single: dict[str, np.ndarray]) -> None:
    """One row of a batched observation equals the single env's: the patch exactly, the log-mels to 1e-4 dB.

    Not bit-exact: the mel projection is one BLAS GEMM over the whole batch, and how it rounds a row depends on
    the batch size and on the CPU's kernel (OPENBLAS_CORETYPE), by about 1e-6 dB.
    """
    assert batched.keys() == single.keys()
    np.testing.assert_array_equal(batched["params"], single["params"])
    for key in ("target", "current"):
        np.testing.assert_allclose(batched[key], single[key], rtol=0, atol=1e-4, err_msg=key)


def test_vector_env_equals_single_envs_seeded_one_apart(builtin: Synth) -> None:
    count, limit = 3, 3
    vector = SynthMatchVectorEnv(count, synth=builtin, max_episode_steps=limit)
    singles = [gym.make(ENV_IDS[0], synth=builtin, max_episode_steps=limit) for _ in range(count)]
    obs, info = vector.reset(seed=10)
    for i, env in enumerate(singles):
        single_obs, single_info = env.reset(seed=10 + i)
        assert_same_observation({k: v[i] for k, v in obs.items()}, single_obs)
        np.testing.assert_array_equal(info["target_params"][i], single_info["target_params"])
    actions = np.random.default_rng(0).uniform(-1, 1, (2 * limit + 1, count, len(builtin.parameters)))
    for action in actions.astype(np.float32):
        obs, rewards, terminated, truncated, info = vector.step(action)
        for i, env in enumerate(singles):
            single_obs, reward, single_terminated, single_truncated, _ = env.step(action[i])
            assert (terminated[i], truncated[i]) == (single_terminated, single_truncated)
            np.testing.assert_allclose(rewards[i], float(reward), rtol=1e-6)
            if single_terminated or single_truncated:
                assert info["_final_obs"][i]
                assert_same_observation({k: v[i] for k, v in info["final_obs"].items()}, single_obs)
                single_obs, _ = env.reset()
            assert_same_observation({k: v[i] for k, v in obs.items()}, single_obs)


def test_no_episode_starts_solved_or_with_an_inaudible_target_batched_or_alone(builtin: Synth) -> None:
    count = 50
    vector = SynthMatchVectorEnv(count, synth=builtin)
    obs, info = vector.reset(seed=0)
    assert not info["is_success"].any()
    peaks = np.abs(builtin.render(info["target_params"], info["note"])).max(axis=1)
    assert np.all(peaks >= 10 ** (AUDIBLE_PEAK_DB / 20))
    first_draws = [vector.task.draw_episode(seeding.np_random(i)[0]) for i in range(count)]
    first_targets = np.stack([e.target_params for e in first_draws if e.target_params is not None])
    first_starts = np.stack([e.start_params for e in first_draws]).astype(np.float32)
    target_redrawn = np.any(first_targets != info["target_params"], axis=1)
    start_redrawn = np.any(first_starts != obs["params"], axis=1)
    assert target_redrawn.any() and start_redrawn.any(), "the seeds chosen no longer exercise both redraws"
    env = SynthMatchEnv(synth=builtin)
    for i in range(count):
        single_obs, single_info = env.reset(seed=i)
        np.testing.assert_array_equal(single_info["target_params"], info["target_params"][i])
        np.testing.assert_array_equal(single_obs["params"], obs["params"][i])
        assert single_info["distance"] == pytest.approx(info["distance"][i], rel=1e-6)


def test_given_targets_and_starts_are_never_drawn_again(builtin: Synth) -> None:
    env = SynthMatchEnv(synth=builtin)
    rng, quietest = np.random.default_rng(8), 10 ** (AUDIBLE_PEAK_DB / 20)
    patches = quantise_all(builtin.definition, rng.random((64, len(builtin.parameters))))
    quiet = patches[np.abs(builtin.render(patches)).max(axis=1) < quietest][0]
    _, info = env.reset(seed=0, options={"target_params": quiet})
    np.testing.assert_array_equal(info["target_params"], quiet)
    obs, info = env.reset(seed=0, options={"target_params": quiet, "start_params": quiet})
    np.testing.assert_array_equal(obs["params"], quiet.astype(np.float32))
    assert info["is_success"] and info["distance"] == 0.0
    silence = np.zeros(builtin.definition.note.render_samples, np.float32)
    obs, info = env.reset(seed=0, options={"target_audio": silence, "start_params": quiet})
    assert info["target_params"] is None and np.all(obs["target"] == env.task.features.floor_db)
    np.testing.assert_array_equal(obs["params"], quiet.astype(np.float32))


def test_vector_env_restarts_solved_episodes_in_the_same_step(builtin: Synth) -> None:
    envs = SynthMatchVectorEnv(4, synth=builtin)
    obs, info = envs.reset(seed=20)
    solved = np.zeros(4, dtype=bool)
    for _ in range(int(np.ceil(1 / DEFAULT_MAX_STEP))):
        action = oracle_action(info["target_params"], obs["params"])
        obs, rewards, terminated, truncated, next_info = envs.step(action)
        for i in np.flatnonzero(terminated):
            final_info = next_info["final_info"]
            assert next_info["_final_obs"][i] and final_info["distance"][i] < DEFAULT_SUCCESS_THRESHOLD
            np.testing.assert_array_equal(final_info["target_params"][i], info["target_params"][i])
            assert not np.array_equal(next_info["target_params"][i], info["target_params"][i])
            assert not np.array_equal(next_info["final_obs"]["target"][i], obs["target"][i])
            assert rewards[i] > DEFAULT_SUCCESS_BONUS - DEFAULT_SUCCESS_THRESHOLD
        solved |= terminated
        info = next_info
    assert solved.all() and not truncated.any()


def test_make_vec_builds_the_batched_env_with_the_registered_limit() -> None:
    envs = gym.make_vec(ENV_IDS[0], num_envs=2, synth="builtin")
    assert isinstance(envs.unwrapped, SynthMatchVectorEnv)
    assert envs.unwrapped.max_episode_steps == MAX_EPISODE_STEPS
    obs, _ = envs.reset(seed=0)
    assert obs["params"].shape == (2, len(envs.unwrapped.task.definition.parameters))
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP


def test_module_prefix_registers_in_a_fresh_interpreter_without_torch() -> None:
    code = (
        "import sys, gymnasium\n"
        "env = gymnasium.make('synthmatch.training:synthmatch/SynthMatch-v1', synth='builtin')\n"
        "env.reset(seed=0)\n"
        "assert 'torch' not in sys.modules, 'synthmatch.training imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode == 0, result.stderr


def test_default_success_threshold_is_what_calibration_gives() -> None:
    calibrated = calibrate_success_threshold("builtin", param_mae=0.02, pairs=256, seed=0)
    assert 0.75 * DEFAULT_SUCCESS_THRESHOLD < calibrated < 1.25 * DEFAULT_SUCCESS_THRESHOLD
