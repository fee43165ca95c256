"""The matching task for many episodes at once: one batched render per step instead of one per environment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Unpack

import numpy as np
import numpy.typing as npt
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from synthmatch.environment_registration import MAX_EPISODE_STEPS
from synthmatch.training.environment import (
    EpisodeBatch,
    MatchTask,
    Observation,
    SynthLike,
    TaskOptions,
)
from synthmatch.training.reward_probe import ProbeSettings, reward_gradient
from synthmatch.training.targets import Target


class SynthMatchVectorEnv(VectorEnv[dict[str, Any], npt.NDArray[np.float32], npt.NDArray[Any]]):
    """``num_envs`` copies of :class:`~synthmatch.training.environment.SynthMatchEnv` stepped as one batch.

    ``gymnasium.make_vec("synthmatch/SynthMatch-v1", num_envs=64, synth="builtin")`` builds it (after
    ``import synthmatch.training``), or construct it directly: ``SynthMatchVectorEnv(64, synth="builtin")``.
    Spaces, reward, start state and episode end are the single environment's, batched: observations
    ``target``/``current`` [num_envs, n_mels, frames], ``params`` [num_envs, P]; actions [num_envs, P]. The
    task's own keywords (:class:`TaskOptions`: ``max_step``, ``success_threshold``, ...) are passed on to it, so
    their defaults live in one place.

    **Speed**: each step renders every environment's patch, each at its own note, in one ``synth.render``
    call, plus one call for the episodes that restart in that step (and a few small ones for the targets and
    starts drawn again, see the start state), and computes only the current sounds' spectra; each target's
    spectra are computed once, when its episode starts.

    **Seeding**: ``reset(seed=s)`` seeds environment i with ``s + i``, so it draws exactly the episodes and
    gives exactly the rewards of ``SynthMatchEnv`` reset with ``seed=s + i`` (as ``SyncVectorEnv`` would).
    ``options`` given to ``reset`` apply to every environment for that reset only.

    **Autoreset** (``metadata["autoreset_mode"]`` is ``AutoresetMode.SAME_STEP``): an environment whose episode
    ends (terminated on success, truncated after ``max_episode_steps``, which ``make_vec`` takes from the
    registration) starts a new episode in the same step. The returned observation and info are then the new
    episode's first, while reward, terminated and truncated are the finished episode's last. The finished
    episode's last observation and info are in ``info["final_obs"]`` and ``info["final_info"]`` (batched like
    the observation and info, rows valid where ``info["_final_obs"]`` is True): bootstrap a truncated
    transition from ``final_obs``, never from the new episode's observation.

    **Info** (batched): ``distance``, ``best_distance``, ``is_success``, ``note`` [num_envs];
    ``target_params`` [num_envs, P] (NaN rows, and False in ``_target_params``, where the target is a recording).

    **Recordings**: with ``recordings`` (:class:`~synthmatch.training.targets.Target` s, e.g. from
    :func:`~synthmatch.training.targets.folder_targets`) and ``recording_share`` p > 0, each new episode's target
    is, with probability p, one of them (uniform, at its estimated note, from a random start patch): a sound no
    patch may reproduce, whose patch is unknown. RL can learn from it; imitation cannot (it has no oracle step).
    """

    metadata: dict[str, Any] = {"render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        num_envs: int,
        synth: SynthLike = "builtin",
        max_episode_steps: int | None = MAX_EPISODE_STEPS,
        recordings: Sequence[Target] = (),
        recording_share: float = 0.0,
        **task: Unpack[TaskOptions],
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1 or None (no limit), got {max_episode_steps}")
        if not 0.0 <= recording_share <= 1.0 or (recording_share > 0.0 and not recordings):
            raise ValueError(f"recording_share {recording_share} must lie in [0, 1], and be 0 without recordings")
        self.task = MatchTask(synth, **task)
        self.recordings, self.recording_share = list(recordings), float(recording_share)
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.single_observation_space = self.task.observation_space
        self.single_action_space = self.task.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._rngs = [seeding.np_random()[0] for _ in range(num_envs)]
        self._probe_rng = np.random.default_rng()
        self._elapsed_steps = np.zeros(num_envs, dtype=np.int64)
        self._batch: EpisodeBatch | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start a new episode in every environment; ``seed`` s seeds environment i with s + i."""
        super().reset(seed=seed)
        if seed is not None:
            self._rngs = [seeding.np_random(seed + i)[0] for i in range(self.num_envs)]
            self._probe_rng = np.random.default_rng([seed, self.num_envs])
        self._batch = self._start(self._rngs, options)
        self._elapsed_steps[:] = 0
        return self._batch.observations(), self._batch.infos()

    def _start(self, rngs: list[np.random.Generator], options: dict[str, Any] | None = None) -> EpisodeBatch:
        """New episodes from ``rngs``: each one's target is a recording with probability ``recording_share``.

        ``options`` (from ``reset``) apply to every episode and turn the recordings off for that reset.
        """
        if options or self.recording_share == 0.0:
            return self.task.start(rngs, options)
        episodes = []
        for rng in rngs:
            chosen = None
            if rng.random() < self.recording_share:
                recording = self.recordings[int(rng.integers(len(self.recordings)))]
                chosen = {"target_audio": recording.audio, "note": recording.note}
            episodes.append(self.task.draw_episode(rng, chosen))
        return self.task.begin(episodes, rngs)

    def reward_gradient(self, actions: npt.NDArray[np.float32], settings: ProbeSettings) -> npt.NDArray[np.float32]:
        """The probed gradient of each environment's reward at ``actions[num_envs, P]``, before stepping with them.

        See :func:`synthmatch.training.reward_probe.reward_gradient`; the probe renders but leaves every episode
        as it is.
        """
        if self._batch is None:
            raise RuntimeError("call reset() before reward_gradient()")
        checked = self.task.check_actions(actions, self.action_space.shape or ())
        return reward_gradient(self.task, self._batch, checked, settings, self._probe_rng)

    def step(
        self, actions: npt.NDArray[np.float32]
    ) -> tuple[Observation, npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_], dict[str, Any]]:
        """Step every environment with its row of ``actions[num_envs, P]``; finished episodes restart at once."""
        if self._batch is None:
            raise RuntimeError("call reset() before step()")
        checked = self.task.check_actions(actions, self.action_space.shape or ())
        rewards = self.task.advance(self._batch, checked)
        self._elapsed_steps += 1
        terminated = self._batch.is_success.copy()
        if self.max_episode_steps is None:
            truncated = np.zeros(self.num_envs, dtype=np.bool_)
        else:
            truncated = self._elapsed_steps >= self.max_episode_steps
        observations, infos = self._batch.observations(), self._batch.infos()
        done = terminated | truncated
        if done.any():
            ended = np.flatnonzero(done)
            restarted = self._start([self._rngs[i] for i in ended])
            self._batch.put(ended, restarted)
            self._elapsed_steps[ended] = 0
            final = {"final_obs": observations, "_final_obs": done, "final_info": infos, "_final_info": done.copy()}
            observations, infos = self._batch.observations(), {**self._batch.infos(), **final}
        return observations, rewards, terminated, truncated, infos
