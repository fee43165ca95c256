"""`synthmatch train`: imitation warm start (behaviour cloning, DAgger rounds), then RL fine-tune (SAC, TD3, probe).

A run follows a fixed plan of steps, ``bc``, ``dagger1`` .. ``daggerN``, ``rl``, and writes a checkpoint after
each imitation step and every ``checkpoint_interval`` RL transitions. Run the same command again with the same
``--out`` and an interrupted run resumes from its newest checkpoint; a finished one just prints its summary.

Run folder (``--out RUN_DIR``), read by ``synthmatch export``:

========================= =====================================================================================
path                      content
========================= =====================================================================================
config.toml               the whole :class:`~synthmatch.training.config.TrainConfig` (after --synth/--algo/--seed)
checkpoints/latest.pt     the newest checkpoint (torch, ``weights_only`` loadable, replaced atomically): the
                          "observer" and "policy" state dicts, "definition_sha256", "features" (FeatureSettings dict), "max_step", "networks",
                          "done" (plan steps finished), "env_steps", "rl_env_steps", "updates", "seconds",
                          "stages" (figures of each finished step, and "untrained"), "evaluation" (the newest
                          validation), "imitation_optimiser", "algorithm" (the RL algorithm's state, None before
                          RL), "random" (torch, Python and numpy generator states), "resumes"
summary.json              written at the end: one row per stage (env steps, updates, seconds, validation median
                          distance and success rate, action MSE, speed) plus the totals
tb/                       TensorBoard logs against gradient updates: imitation/*, rl/*, validation/*, speed/*,
                          and the config as text
========================= =====================================================================================

What a resumed run does not get back: the imitation's aggregated states (the oracle's behaviour-cloning states
are collected again from their seed; the states of earlier DAgger rounds are gone) and the replay buffer (the
RL stage refills ``learning_starts`` transitions before it updates again). Both would cost gigabytes on disk.

Both cores: the vector environment steps in a worker process (:mod:`synthmatch.training.env_worker`) and torch
runs in this one, on one thread. At every step the main process sends the actions, runs its gradient updates
(imitation or RL) while the worker renders, then collects the step. One torch thread, not two: with any other
busy process on the 2-core machine, two OpenMP threads spin-wait for each other and an imitation update took
16x longer (1.1 instead of 17.5 updates/s, measured next to a one-thread job); next to our own worker, RL
updates were 3.5x slower.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from synthmatch.definitions import find_definition
from synthmatch.training.algorithm import Algorithm, algorithm_class
from synthmatch.training.checkpoints import load_checkpoint, random_state, restore_random_state, save_checkpoint
from synthmatch.training.config import TrainConfig, load_config
from synthmatch.training.env_worker import EnvSettings, EnvWorker
from synthmatch.training.environment import MatchTask
from synthmatch.training.imitation import Demonstrations, Imitation, collect, network_actor, oracle_actions
from synthmatch.training.networks import Critic, Policy, build_observer
from synthmatch.training.replay import ReplayBuffer, frozen_embedder
from synthmatch.training.run_summary import format_run_summary
from synthmatch.training.validation import validate, validation_batch

CONFIG_FILE = "config.toml"
SUMMARY_FILE = "summary.json"
#: Second words of the run's random streams: np.random.SeedSequence([seed, STREAM, ...]).
BC_STREAM, DAGGER_STREAM, RL_STREAM, HELD_OUT_STREAM, MINIBATCH_STREAM = 1, 2, 3, 4, 5


def stream_seed(seed: int, stream: int, index: int = 0) -> int:
    """A 31-bit seed for one random stream of a run (environment i of a vector env then gets seed + i)."""
    return int(np.random.SeedSequence([seed, stream, index]).generate_state(1)[0] >> 1)


def plan(config: TrainConfig) -> list[str]:
    """The run's steps in order: "bc", "dagger1".."daggerN", and "rl" unless the RL stage has no steps."""
    steps = ["bc", *(f"dagger{k}" for k in range(1, config.imitation.dagger_rounds + 1))]
    return steps + (["rl"] if config.rl.total_env_steps > 0 else [])


@dataclass
class RunState:
    """Where a run stands; saved in every checkpoint, so a resumed run continues from here."""

    done: list[str] = field(default_factory=list)
    """Plan steps finished."""
    env_steps: int = 0
    """Environment transitions so far, every stage included."""
    rl_env_steps: int = 0
    """Transitions of the RL stage so far."""
    updates: int = 0
    """Gradient updates so far, every stage included."""
    seconds: float = 0.0
    """Wall time of the run so far, every earlier (interrupted) session included."""
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    """Figures of each finished step (and "untrained": validation before any training)."""
    evaluation: dict[str, float] = field(default_factory=dict)
    """The newest validation figures."""
    resumes: int = 0
    """How many times the run was resumed from a checkpoint."""


class Trainer:
    """One training run in one folder: builds everything, runs the plan's remaining steps, checkpoints, logs."""

    def __init__(self, config: TrainConfig, run_dir: Path, progress: bool = True) -> None:
        self.config, self.run_dir, self.show_progress = config, Path(run_dir), progress
        self.definition = find_definition(config.synth)
        self.task = MatchTask(self.definition, max_step=config.max_step)
        features = self.task.features
        self.mel_shape = (features.n_mels, features.frames(self.task.render_samples))
        self.params = len(self.definition.parameters)
        torch.set_num_threads(1)  # see the module docstring: the worker has the other core
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng([config.seed, MINIBATCH_STREAM])
        net = config.networks
        self.observer = build_observer(features, self.mel_shape[1], net)
        self.policy = Policy(net.embed_dim, self.params, net.hidden)
        self.imitation = Imitation(self.observer, self.policy, config.imitation)
        self.algorithm: Algorithm | None = None
        self.state = RunState()
        checkpoint = load_checkpoint(self.run_dir)
        if checkpoint is not None:
            self._restore(checkpoint)
        self.validation_start = validation_batch(self.task, config.validation_episodes, config.seed)
        self._started = time.perf_counter()
        self._seconds_before = self.state.seconds

    def run(self) -> RunState:
        """Run every plan step not done yet; returns the final state (its ``stages`` are the summary's rows)."""
        remaining = [step for step in plan(self.config) if step not in self.state.done]
        if not remaining:
            return self.state
        settings = EnvSettings(self.config.num_envs, self.config.synth, self.config.episode_steps,
                               self.config.max_step)
        rl_settings = self._rl_settings(settings)  # checked before any work: a missing folder fails at once
        self.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.state.updates or None)
        if self.state.done:
            self.state.resumes += 1
        else:
            self.writer.add_text("config", "    " + self.config.to_toml().replace("\n", "\n    "))
            self.state.stages["untrained"] = {"env_steps": 0, "updates": 0, "seconds": 0.0, **self._validate()}
        if any(step != "rl" for step in remaining):
            with EnvWorker(settings) as env:
                self._imitate(env, [step for step in remaining if step != "rl"])
        if "rl" in remaining:
            with EnvWorker(rl_settings) as env:
                self._reinforce(env)
        self.writer.close()
        return self.state

    # --- imitation -------------------------------------------------------------------------------------------

    def _imitate(self, env: EnvWorker, steps: list[str]) -> None:
        """Behaviour cloning and the DAgger rounds in ``steps``, a checkpoint after each."""
        config, seed = self.config.imitation, self.config.seed
        capacity = config.bc_samples + config.dagger_rounds * config.dagger_samples
        data = Demonstrations(capacity, self.mel_shape, self.params, self.config.max_step)
        held_out = Demonstrations(config.validation_samples, self.mel_shape, self.params, self.config.max_step)
        collect(env, held_out, config.validation_samples, stream_seed(seed, HELD_OUT_STREAM), None)
        if steps[0] != "bc":  # resumed: the oracle's states again, from their seed
            collect(env, data, config.bc_samples, stream_seed(seed, BC_STREAM), None)
        for step in steps:
            started, env_steps = time.perf_counter(), self.state.env_steps
            if step == "bc":
                samples, updates, actor = config.bc_samples, config.bc_updates, None
                stream = stream_seed(seed, BC_STREAM)
            else:
                samples, updates = config.dagger_samples, config.dagger_updates
                actor = network_actor(self.observer, self.policy)
                stream = stream_seed(seed, DAGGER_STREAM, len(self.state.done))
            errors: deque[float] = deque(maxlen=max(1, updates // 10))
            with self._bar(step, updates) as bar:
                fit = self._imitation_updates(data, updates, -(-samples // self.config.num_envs), errors, bar)
                collected = collect(env, data, samples, stream, actor, while_stepping=fit)
                self.state.env_steps += int(collected["env_steps"])
                while fit():  # the updates the collection left
                    pass
            figures = {
                "env_steps": self.state.env_steps - env_steps, "updates": updates,
                "seconds": time.perf_counter() - started, "states": len(data),
                "action_mse_train": float(np.mean(errors)),
                "action_mse_held_out": self.imitation.action_mse(held_out),
                **({} if step == "bc" else {"action_mse_on_policy": collected["action_mse"]}),
                **self._validate(),
            }
            self._finish(step, figures)

    def _imitation_updates(
        self, data: Demonstrations, updates: int, env_steps: int, errors: deque[float], bar: tqdm
    ) -> Callable[[], bool]:
        """A function to call while the worker renders each of ``env_steps`` steps, then until it returns False.

        Each call during the collection does that step's share of the ``updates``, once ``data`` holds a
        minibatch; each call after it does one of those left. Updates are counted, logged (every 50) and shown.
        """
        calls, done = 0, 0

        def fit() -> bool:
            nonlocal calls, done
            calls += 1
            due = min(updates, calls * updates // env_steps if calls <= env_steps else done + 1)
            while done < due and len(data) >= self.config.imitation.batch_size:
                errors.append(self.imitation.update(data, self.rng))
                done += 1
                self.state.updates += 1
                if self.state.updates % 50 == 0:
                    self.writer.add_scalar("imitation/action_mse", errors[-1], self.state.updates)
                    bar.set_postfix(mse=f"{errors[-1]:.3f}", **self._postfix())
                bar.update(1)
            return done < updates

        return fit

    # --- reinforcement learning ------------------------------------------------------------------------------

    def _reinforce(self, env: EnvWorker) -> None:
        """The RL fine-tune: act with exploration, update while the worker steps, validate and checkpoint."""
        config, rl = self.config, self.config.rl
        algorithm = self._algorithm()
        frozen = config.algorithm_config.observer_lr == 0.0  # then the buffer keeps embeddings, not log-mels
        embed = frozen_embedder(self.observer) if frozen else None
        buffer = ReplayBuffer(rl.buffer_size, self.mel_shape, self.params, embed, config.networks.embed_dim)
        started, start_steps, start_updates = time.perf_counter(), self.state.rl_env_steps, self.state.updates
        update_seconds, finished, successes, metrics = 0.0, [], [], {}
        probe = config.probe.settings if config.algo == "probe" else None
        obs, infos = env.reset(stream_seed(config.seed, RL_STREAM, self.state.rl_env_steps))
        with self._bar("rl", rl.total_env_steps, self.state.rl_env_steps) as bar:
            while self.state.rl_env_steps < rl.total_env_steps:
                oracle = oracle_actions(obs["params"], infos["target_params"], config.max_step)
                actions = algorithm.act(obs, explore=True)
                env.step_async(actions, probe)
                if len(buffer) >= min(rl.learning_starts, rl.buffer_size):
                    update_started = time.perf_counter()
                    for _ in range(rl.updates_per_step):
                        metrics = algorithm.update(buffer.sample(rl.batch_size, self.rng))
                    update_seconds += time.perf_counter() - update_started
                    self.state.updates += rl.updates_per_step
                next_obs, rewards, terminated, _, infos = env.step_wait()
                buffer.add(obs, actions, rewards, terminated, next_obs, infos, oracle)
                obs = next_obs
                if "final_info" in infos:
                    ended = infos["_final_info"]
                    finished += list(infos["final_info"]["best_distance"][ended])
                    successes += list(infos["final_info"]["is_success"][ended])
                before = self.state.rl_env_steps
                self.state.rl_env_steps += config.num_envs
                self.state.env_steps += config.num_envs
                bar.update(config.num_envs)
                if self._crossed(before, config.eval_interval) or self.state.rl_env_steps >= rl.total_env_steps:
                    self._log_rl(metrics, finished, successes)
                    finished, successes = [], []
                    self.state.evaluation = self._validate()
                    bar.set_postfix(self._postfix())
                if self._crossed(before, config.checkpoint_interval):
                    self._checkpoint()
        seconds = time.perf_counter() - started
        steps, updates = self.state.rl_env_steps - start_steps, self.state.updates - start_updates
        figures = {
            "env_steps": steps, "updates": updates, "seconds": seconds,
            "env_steps_per_s": steps / seconds, "updates_per_s": updates / max(update_seconds, 1e-9),
            "update_share": update_seconds / seconds, **self.state.evaluation,
        }
        self.writer.add_scalar("speed/env_steps_per_s", figures["env_steps_per_s"], self.state.updates)
        self.writer.add_scalar("speed/updates_per_s", figures["updates_per_s"], self.state.updates)
        self._finish("rl", figures)

    def _rl_settings(self, settings: EnvSettings) -> EnvSettings:
        """The RL stage's environment: the imitation's, plus the configured recordings (checked here)."""
        rl = self.config.rl
        if not rl.recordings:
            return settings
        if not Path(rl.recordings).is_dir():
            raise FileNotFoundError(
                f"[rl] recordings = {rl.recordings!r}: no such folder (from {Path.cwd()}); render one with "
                "scripts/make-real-targets.sh --training, or set recordings = \"\""
            )
        return dataclasses.replace(settings, recordings=rl.recordings, recording_share=rl.recording_share)

    def _algorithm(self) -> Algorithm:
        """The configured algorithm around the imitation-trained observer and policy (restored when resuming)."""
        if self.algorithm is None:
            net = self.config.networks
            critic = Critic(net.embed_dim, self.params, net.hidden)
            self.algorithm = algorithm_class(self.config.algo)(
                self.observer, self.policy, critic, self.config.algorithm_config, seed=self.config.seed
            )
        return self.algorithm

    def _crossed(self, before: int, interval: int) -> bool:
        """Whether the RL step counter passed a multiple of ``interval`` since ``before``."""
        return self.state.rl_env_steps // interval > before // interval

    def _log_rl(self, metrics: dict[str, float], finished: list[float], successes: list[bool]) -> None:
        """The newest update's metrics and the training episodes' figures since the last log, to TensorBoard."""
        for name, value in metrics.items():
            self.writer.add_scalar(f"rl/{name}", value, self.state.updates)
        self.writer.add_scalar("rl/env_steps", self.state.env_steps, self.state.updates)
        if finished:
            self.writer.add_scalar("rl/episode_best_distance", float(np.median(finished)), self.state.updates)
            self.writer.add_scalar("rl/episode_success", float(np.mean(successes)), self.state.updates)

    # --- bookkeeping -----------------------------------------------------------------------------------------

    def _validate(self) -> dict[str, float]:
        """Validation figures of the current policy, logged to TensorBoard and kept as the newest evaluation."""
        result = validate(self.task, self.observer, self.policy, self.validation_start,
                          self.config.episode_steps).to_dict()
        for name, value in result.items():
            self.writer.add_scalar(f"validation/{name}", value, self.state.updates)
        self.state.evaluation = result
        return result

    def _finish(self, step: str, figures: dict[str, float]) -> None:
        """Record a finished plan step and checkpoint."""
        self.state.stages[step] = figures
        self.state.done.append(step)
        self._checkpoint()

    def _checkpoint(self) -> None:
        """Save everything a resumed run needs (see the module docstring) to checkpoints/latest.pt."""
        self.state.seconds = self._seconds_before + time.perf_counter() - self._started
        observer, policy = self.algorithm.policy_modules() if self.algorithm else (self.observer, self.policy)
        save_checkpoint(self.run_dir, {
            "observer": observer.state_dict(), "policy": policy.state_dict(),
            "definition_sha256": self.definition.sha256, "features": self.task.features.to_dict(),
            "max_step": self.config.max_step, "networks": self.config.networks.to_dict(),
            **self.state.__dict__,
            "imitation_optimiser": self.imitation.optimiser.state_dict(),
            "algorithm": self.algorithm.state_dict() if self.algorithm else None,
            "random": random_state(self.rng),
        })

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from ``checkpoint``: networks, optimisers, algorithm, random states and counters."""
        if checkpoint["definition_sha256"] != self.definition.sha256:
            raise ValueError(
                f"{self.run_dir} was trained on another version of the {self.definition.name} definition "
                f"({self.definition.source}); restore that file, or give a new --out to train from scratch"
            )
        self.observer.load_state_dict(checkpoint["observer"])
        self.policy.load_state_dict(checkpoint["policy"])
        self.imitation.optimiser.load_state_dict(checkpoint["imitation_optimiser"])
        if checkpoint["algorithm"] is not None:
            self._algorithm().load_state_dict(checkpoint["algorithm"])
        restore_random_state(checkpoint["random"], self.rng)
        names = RunState.__dataclass_fields__
        self.state = RunState(**{name: checkpoint[name] for name in names})

    def _bar(self, description: str, total: int, initial: int = 0) -> tqdm:
        """A progress bar on stderr (silent when progress is off)."""
        return tqdm(total=total, initial=initial, desc=description, disable=not self.show_progress,
                    dynamic_ncols=True, leave=True)

    def _postfix(self) -> dict[str, str]:
        """The progress bar's figures: steps so far and the newest validation's distance and success."""
        evaluation = self.state.evaluation
        return {
            "steps": str(self.state.env_steps),
            "distance": f"{evaluation.get('distance_median', float('nan')):.3f}",
            "success": f"{100 * evaluation.get('success_rate', 0.0):.0f}%",
        }


def summary(config: TrainConfig, state: RunState) -> dict[str, Any]:
    """The summary.json of a finished run: one row per stage, the final validation and the totals."""
    rows = [{"stage": name, **figures} for name, figures in state.stages.items()]
    return {
        "synth": config.synth, "algo": config.algo, "seed": config.seed, "stages": rows,
        "final": state.evaluation, "env_steps": state.env_steps, "updates": state.updates,
        "seconds": state.seconds, "resumes": state.resumes,
    }


def train(config: TrainConfig, run_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) the run in ``run_dir`` with ``config``; writes config.toml and summary.json, returns it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(config, run_dir, progress)
    (run_dir / CONFIG_FILE).write_text(config.to_toml(), encoding="utf-8")
    state = trainer.run()
    report = summary(config, state)
    (run_dir / SUMMARY_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The run's configuration: --config (path or shipped name) with --synth/--algo/--seed over it.

    When ``args.out`` already holds a run, that run's config.toml is the base, and what the command line gives
    must agree with it (a ValueError lists the differences and the fix).
    """
    overrides = {"synth": str(args.synth), "algo": args.algo, "seed": args.seed}
    saved_path = Path(args.out) / CONFIG_FILE
    if not saved_path.is_file():
        return load_config(args.config, **overrides)
    saved = load_config(saved_path)
    requested = load_config(args.config if args.config is not None else saved_path, **overrides)
    differences = _differences(saved.to_dict(), requested.to_dict())
    if differences:
        raise ValueError(
            f"{args.out} holds a run with another configuration ({'; '.join(differences)}); run the same command "
            "again to resume it, or give a new --out to start another run"
        )
    return saved


def _differences(saved: dict[str, Any], requested: dict[str, Any], prefix: str = "") -> list[str]:
    """The keys where two nested config dicts differ, as "key: saved -> requested"."""
    found = []
    for key, value in saved.items():
        other = requested[key]
        if isinstance(value, dict):
            found += _differences(value, other, f"{prefix}{key}.")
        elif value != other:
            found.append(f"{prefix}{key}: {value!r} -> {other!r}")
    return found


def run_train(args: argparse.Namespace) -> int:
    """`synthmatch train`: train or resume, then print the summary table; returns the exit status."""
    config = resolve_config(args)
    print(f"training {config.synth} with imitation + {config.algo} (seed {config.seed}) in {args.out}")
    report = train(config, args.out)
    print(format_run_summary(report, args.out))
    return 0
