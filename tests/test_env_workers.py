"""Environments split over several worker processes: the learner sees the same vector environment as with one."""

from __future__ import annotations

import multiprocessing
from typing import Any

import numpy as np
import pytest

from synthmatch.training.env_worker import EnvSettings, EnvWorker, _with_final
from synthmatch.training.reward_probe import ProbeSettings

SETTINGS = EnvSettings(5, "builtin", 3, 0.1)  # episodes of 3 steps: the third step ends and restarts them all


def episode(processes: int, seed: int = 11) -> list[Any]:
    """reset(seed), then three steps of the same actions, with ``processes`` workers: every value returned."""
    actions = np.random.default_rng(3).uniform(-1.0, 1.0, (3, SETTINGS.num_envs, 20)).astype(np.float32)
    with EnvWorker(SETTINGS, processes) as env:
        assert env.processes == processes and env.num_envs == SETTINGS.num_envs
        returned: list[Any] = [env.reset(seed)]
        returned += [env.step(step_actions) for step_actions in actions]
    return returned


def assert_close(one: Any, other: Any, where: str = "") -> None:
    """Nested tuples and dicts of arrays equal up to float rounding (renders batched differently may differ)."""
    if isinstance(one, dict):
        assert one.keys() == other.keys(), where
        for key in one:
            assert_close(one[key], other[key], f"{where}.{key}")
    elif isinstance(one, (tuple, list)):
        for index, (a, b) in enumerate(zip(one, other, strict=True)):
            assert_close(a, b, f"{where}[{index}]")
    else:
        assert np.shape(one) == np.shape(other), where
        np.testing.assert_allclose(np.asarray(one, np.float64), np.asarray(other, np.float64), atol=1e-4,
                                   err_msg=where)


def test_split_over_two_and_five_processes_gives_the_episodes_of_one() -> None:
    alone = episode(1)
    assert "final_obs" in alone[3][4] and alone[3][4]["_final_obs"].all()  # the truncating step is covered
    assert not np.allclose(alone[0][0]["target"], episode(1, seed=12)[0][0]["target"])  # the seed matters
    for processes in (2, 5):
        assert_close(alone, episode(processes), f"{processes} processes")


def test_a_share_that_ended_no_episode_gets_final_entries_marked_not_final() -> None:
    observations = {"params": np.zeros((2, 3), np.float32)}
    infos = {"distance": np.array([0.5, 0.4]), "reward_gradient": np.zeros((2, 3), np.float32)}
    filled = _with_final((observations, np.zeros(2), np.zeros(2, bool), np.zeros(2, bool), infos), ["distance"])
    assert filled["final_obs"] is observations and filled["final_info"] == {"distance": infos["distance"]}
    assert not filled["_final_obs"].any() and not filled["_final_info"].any() and len(filled["_final_obs"]) == 2


def test_probed_steps_join_when_only_some_shares_end_an_episode() -> None:
    """A success ends one episode early; the probe's gradient rides in the step's info but not in final_info."""
    settings = EnvSettings(4, "builtin", 32, 0.1)
    with EnvWorker(settings, 2) as env:
        obs, infos = env.reset(5)
        oracle = np.clip((infos["target_params"] - obs["params"]) / settings.max_step, -1.0, 1.0)
        actions = np.zeros_like(oracle)
        actions[3] = oracle[3]  # only the second share's last episode walks to its target
        for _ in range(10):
            obs, _, terminated, _, infos = env.step(actions, ProbeSettings(1, 0.3))
            if terminated.any():
                break
            actions[3] = np.clip((infos["target_params"][3] - obs["params"][3]) / settings.max_step, -1.0, 1.0)
    assert terminated.tolist() == [False, False, False, True]
    assert infos["_final_obs"].tolist() == [False, False, False, True] and infos["reward_gradient"].shape == (4, 20)
    assert "reward_gradient" not in infos["final_info"] and infos["final_info"]["is_success"][3]


@pytest.mark.parametrize("processes", [0, 6])
def test_a_count_outside_one_to_num_envs_is_refused_before_any_process_starts(processes: int) -> None:
    with pytest.raises(ValueError, match=rf"--workers {processes}: give 1 to num_envs \(5\)"):
        EnvWorker(SETTINGS, processes)


def test_a_worker_that_cannot_build_its_environment_fails_the_pool_with_its_traceback() -> None:
    with pytest.raises(RuntimeError, match="the environment worker failed"):
        EnvWorker(EnvSettings(4, "no-such-synth", 3, 0.1), 2)
    assert not multiprocessing.active_children()  # the pool stopped the processes it had started


def test_a_worker_gone_between_steps_is_named_and_the_pool_still_closes() -> None:
    env = EnvWorker(SETTINGS, 2)
    env.reset(1)
    gone, _ = env._children[1]
    gone.kill()
    gone.join()
    with pytest.raises(RuntimeError, match=rf"worker \(pid {gone.pid}\) exited unexpectedly"):
        env.step(np.zeros((SETTINGS.num_envs, 20), np.float32))
    env.close()
    assert not multiprocessing.active_children()
