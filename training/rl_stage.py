"""The RL stage of a run: act with exploration, update while the worker steps, validate and checkpoint.

The algorithm (SAC, TD3, the probed gradient) is :mod:`synthmatch.training.algorithm`'s registry's; this module
runs any of them over a :class:`~synthmatch.training.training_run.TrainingRun`, the imitation-trained networks
inside it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from synthmatch.training.config import TrainConfig
from synthmatch.training.env_worker import EnvSettings, EnvWorker
from synthmatch.training.imitation import oracle_actions
from synthmatch.training.replay import ReplayBuffer, frozen_embedder
from synthmatch.training.training_run import RL_STREAM, TrainingRun, stream_seed


def rl_env_settings(config: TrainConfig, settings: EnvSettings) -> EnvSettings:
    """The RL stage's environment: the imitation's, plus the configured recordings (checked here)."""
    rl = config.rl
    if not rl.recordings:
        return settings
    if not Path(rl.recordings).is_dir():
        raise FileNotFoundError(
            f"[rl] recordings = {rl.recordings!r}: no such folder (from {Path.cwd()}); render one with "
            "scripts/make-real-targets.sh --training, or set recordings = \"\""
        )
    return dataclasses.replace(settings, recordings=rl.recordings, recording_share=rl.recording_share)


def reinforce(run: TrainingRun, env: EnvWorker) -> None:
    """The RL fine-tune: act with exploration, update while the worker steps, validate and checkpoint."""
    config, rl = run.config, run.config.rl
    algorithm = run.build_algorithm()
    frozen = config.algorithm_config.observer_lr == 0.0  # then the buffer keeps embeddings, not log-mels
    embed = frozen_embedder(run.observer) if frozen else None
    buffer = ReplayBuffer(rl.buffer_size, run.mel_shape, run.params, embed, config.networks.embed_dim)
    started, start_steps, start_updates = time.perf_counter(), run.state.rl_env_steps, run.state.updates
    update_seconds, finished, successes, metrics = 0.0, [], [], {}
    obs, infos = env.reset(stream_seed(config.seed, RL_STREAM, run.state.rl_env_steps))
    with run.bar("rl", rl.total_env_steps, run.state.rl_env_steps) as bar:
        while run.state.rl_env_steps < rl.total_env_steps:
            oracle = oracle_actions(obs["params"], infos["target_params"], config.max_step)
            actions = algorithm.act(obs, explore=True)
            env.step_async(actions, algorithm.probe)
            if len(buffer) >= min(rl.learning_starts, rl.buffer_size):
                update_started = time.perf_counter()
                for _ in range(rl.updates_per_step):
                    metrics = algorithm.update(buffer.sample(rl.batch_size, run.rng, run.device))
                update_seconds += time.perf_counter() - update_started
                run.state.updates += rl.updates_per_step
            next_obs, rewards, terminated, _, infos = env.step_wait()
            buffer.add(obs, actions, rewards, terminated, next_obs, infos, oracle)
            obs = next_obs
            if "final_info" in infos:
                ended = infos["_final_info"]
                finished += list(infos["final_info"]["best_distance"][ended])
                successes += list(infos["final_info"]["is_success"][ended])
            before = run.state.rl_env_steps
            run.state.rl_env_steps += config.num_envs
            run.state.env_steps += config.num_envs
            bar.update(config.num_envs)
            now = run.state.rl_env_steps
            if crossed(before, now, config.eval_interval) or now >= rl.total_env_steps:
                log_rl(run, metrics, finished, successes)
                finished, successes = [], []
                run.state.evaluation = run.validate()
                bar.set_postfix(run.postfix())
            if crossed(before, now, config.checkpoint_interval):
                run.checkpoint()
    seconds = time.perf_counter() - started
    steps, updates = run.state.rl_env_steps - start_steps, run.state.updates - start_updates
    figures = {
        "env_steps": steps, "updates": updates, "seconds": seconds,
        "env_steps_per_s": steps / seconds, "updates_per_s": updates / max(update_seconds, 1e-9),
        "update_share": update_seconds / seconds, **run.state.evaluation,
    }
    run.log("speed/env_steps_per_s", figures["env_steps_per_s"])
    run.log("speed/updates_per_s", figures["updates_per_s"])
    run.finish("rl", figures)


def crossed(before: int, now: int, interval: int) -> bool:
    """Whether a step counter passed a multiple of ``interval`` going from ``before`` to ``now``."""
    return now // interval > before // interval


def log_rl(run: TrainingRun, metrics: dict[str, float], finished: list[float], successes: list[bool]) -> None:
    """The newest update's metrics and the training episodes' figures since the last log, to TensorBoard."""
    for name, value in metrics.items():
        run.log(f"rl/{name}", value)
    run.log("rl/env_steps", run.state.env_steps)
    if finished:
        run.log("rl/episode_best_distance", float(np.median(finished)))
        run.log("rl/episode_success", float(np.mean(successes)))
