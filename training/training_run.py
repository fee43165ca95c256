"""One training run in its folder: the plan, where the run stands, its networks, and the bookkeeping every stage does.

The stages (:mod:`synthmatch.training.imitation_stage`, :mod:`synthmatch.training.rl_stage`) are functions over a
:class:`TrainingRun`; :mod:`synthmatch.training.train` runs them in the order of :func:`plan`. The run folder's
layout is in that module's docstring.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from synthmatch.definitions import SynthDefinition, find_definition
from synthmatch.features import FeatureSettings
from synthmatch.training.algorithm import ALGORITHMS, Algorithm
from synthmatch.training.checkpoints import load_checkpoint, random_state, restore_random_state, save_checkpoint
from synthmatch.training.config import TrainConfig
from synthmatch.training.environment import MatchTask
from synthmatch.training.imitation import Imitation
from synthmatch.training.networks import Critic, Policy, build_observer
from synthmatch.training.validation import validate, validation_batch

CONFIG_FILE = "config.toml"
SUMMARY_FILE = "summary.json"
#: Second words of the run's random streams: np.random.SeedSequence([seed, STREAM, ...]).
BC_STREAM, DAGGER_STREAM, RL_STREAM, HELD_OUT_STREAM, MINIBATCH_STREAM = 1, 2, 3, 4, 5


def stream_seed(seed: int, stream: int, index: int = 0) -> int:
    """A 31-bit seed for one random stream of a run (environment i of a vector env then gets seed + i)."""
    return int(np.random.SeedSequence([seed, stream, index]).generate_state(1)[0] >> 1)


def plan(config: TrainConfig, in_process: bool = True) -> list[str]:
    """The run's steps in order: "bc" (or "dataset"), "dagger1".."daggerN", and "rl" unless it has no steps.

    With a data set, its pairs ("dataset") replace behaviour cloning on the oracle's rendered episodes; a synth
    that cannot render in-process (``in_process`` False: an external one) has no other step.
    """
    if config.dataset and not in_process:
        return ["dataset"]
    dagger = [f"dagger{k}" for k in range(1, config.imitation.dagger_rounds + 1)]
    steps = ["dataset" if config.dataset else "bc", *dagger]
    return steps + (["rl"] if config.rl.total_env_steps > 0 else [])


def renders_in_process(definition: SynthDefinition) -> bool:
    """Whether the synth renders in this process (builtin, VST3), so that episodes can be played; not external."""
    return definition.kind != "external"


@dataclass
class RunState:
    """Where a run stands; saved in every checkpoint, so a resumed run continues from here."""

    done: list[str] = field(default_factory=list)
    """Plan steps finished."""
    env_steps: int = 0
    """Environment transitions so far, every stage included."""
    rl_env_steps: int = 0
    """Transitions of the RL stage so far."""
    pair_updates: int = 0
    """Gradient updates of the data set stage so far (it checkpoints within itself, see PairsConfig)."""
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


class TrainingRun:
    """A run's networks, state and log, built from its config and restored from its newest checkpoint, if any."""

    def __init__(self, config: TrainConfig, run_dir: Path, progress: bool = True,
                 device: torch.device | None = None) -> None:
        self.config, self.run_dir, self.show_progress = config, Path(run_dir), progress
        self.device = torch.device("cpu") if device is None else device
        """Where the networks learn (:mod:`synthmatch.training.devices`); the environment stays on the CPU."""
        self.definition = find_definition(config.synth)
        self.in_process = renders_in_process(self.definition)
        # An external synth cannot render: no episodes, no validation by matching (see plan)
        self.task = MatchTask(self.definition, max_step=config.max_step) if self.in_process else None
        note = self.definition.note
        self.features = FeatureSettings(sample_rate=note.sample_rate) if self.task is None else self.task.features
        self.mel_shape = (self.features.n_mels, self.features.frames(note.render_samples))
        self.params = len(self.definition.parameters)
        torch.set_num_threads(1)  # see synthmatch.training.train: the worker has the other core
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng([config.seed, MINIBATCH_STREAM])
        net = config.networks
        self.observer = build_observer(self.features, self.mel_shape[1], net).to(self.device)
        self.policy = Policy(net.embed_dim, self.params, net.hidden).to(self.device)
        self.imitation = Imitation(self.observer, self.policy, config.imitation)
        self.algorithm: Algorithm | None = None
        self.state = RunState()
        self.writer: SummaryWriter | None = None
        checkpoint = load_checkpoint(self.run_dir)
        self.resumed = checkpoint is not None
        if checkpoint is not None:
            self._restore(checkpoint)
        self.validation_start = (None if self.task is None
                                 else validation_batch(self.task, config.validation_episodes, config.seed))
        self._started = time.perf_counter()
        self._seconds_before = self.state.seconds

    def remaining(self) -> list[str]:
        """The plan's steps not done yet."""
        return [step for step in plan(self.config, self.in_process) if step not in self.state.done]

    @contextmanager
    def open_log(self) -> Iterator[SummaryWriter]:
        """Start (or, resumed, continue) the TensorBoard log in ``tb/`` for the block, closed on the way out,
        however the block ends; the first session records the untrained net."""
        self.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.state.updates or None)
        try:
            if self.resumed:
                self.state.resumes += 1
            else:
                self.writer.add_text("config", "    " + self.config.to_toml().replace("\n", "\n    "))
                self.state.stages["untrained"] = {"env_steps": 0, "updates": 0, "seconds": 0.0, **self.validate()}
            yield self.writer
        finally:
            self.writer.close()

    def log(self, name: str, value: float) -> None:
        """One scalar to TensorBoard against the run's gradient updates."""
        if self.writer is None:
            raise RuntimeError("TrainingRun.log before open_log")
        self.writer.add_scalar(name, value, self.state.updates)

    def build_algorithm(self) -> Algorithm:
        """The configured RL algorithm around the imitation-trained observer and policy, built once."""
        if self.algorithm is None:
            net = self.config.networks
            critic = Critic(net.embed_dim, self.params, net.hidden).to(self.device)
            self.algorithm = ALGORITHMS[self.config.algo].cls(
                self.observer, self.policy, critic, self.config.algorithm_config, seed=self.config.seed
            )
        return self.algorithm

    def validate(self) -> dict[str, float]:
        """Validation figures of the current policy, logged to TensorBoard and kept as the newest evaluation.

        None (an empty dict) for a synth that cannot render in-process: matching needs renders.
        """
        if self.task is None or self.validation_start is None:
            return {}
        result = validate(self.task, self.observer, self.policy, self.validation_start,
                          self.config.episode_steps).to_dict()
        for name, value in result.items():
            self.log(f"validation/{name}", value)
        self.state.evaluation = result
        return result

    def finish(self, step: str, figures: dict[str, float]) -> None:
        """Record a finished plan step and checkpoint."""
        self.state.stages[step] = figures
        self.state.done.append(step)
        self.checkpoint()

    def checkpoint(self) -> None:
        """Save everything a resumed run needs (see synthmatch.training.train) to checkpoints/latest.pt."""
        self.state.seconds = self._seconds_before + time.perf_counter() - self._started
        observer, policy = self.algorithm.policy_modules() if self.algorithm else (self.observer, self.policy)
        save_checkpoint(self.run_dir, {
            "observer": observer.state_dict(), "policy": policy.state_dict(),
            "definition_sha256": self.definition.sha256, "features": self.features.to_dict(),
            "max_step": self.config.max_step, "networks": self.config.networks.to_dict(),
            **asdict(self.state),
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
            self.build_algorithm().load_state_dict(checkpoint["algorithm"])
        restore_random_state(checkpoint["random"], self.rng)
        names = RunState.__dataclass_fields__
        self.state = RunState(**{name: checkpoint[name] for name in names if name in checkpoint})  # older: fewer

    def bar(self, description: str, total: int, initial: int = 0) -> tqdm:
        """A progress bar on stderr (silent when progress is off)."""
        return tqdm(total=total, initial=initial, desc=description, disable=not self.show_progress,
                    dynamic_ncols=True, leave=True)

    def postfix(self) -> dict[str, str]:
        """The progress bar's figures: steps so far and the newest validation's distance and success."""
        evaluation = self.state.evaluation
        return {
            "steps": str(self.state.env_steps),
            "distance": f"{evaluation.get('distance_median', float('nan')):.3f}",
            "success": f"{100 * evaluation.get('success_rate', 0.0):.0f}%",
        }
