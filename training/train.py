"""`synthmatch train`: imitation warm start (behaviour cloning, DAgger rounds), then RL fine-tune (SAC, TD3, probe).

The stages are functions over a :class:`~synthmatch.training.training_run.TrainingRun` (the run's networks,
state and log): :func:`~synthmatch.training.imitation_stage.imitate` and
:func:`~synthmatch.training.rl_stage.reinforce`; :func:`train` runs those of the plan not done yet.

A run follows a fixed plan of steps, ``bc``, ``dagger1`` .. ``daggerN``, ``rl``, and writes a checkpoint after
each imitation step and every ``checkpoint_interval`` RL transitions. With a data set (``--dataset``), ``dataset``
(:mod:`synthmatch.training.dataset_stage`, checkpointed every ``[pairs] checkpoint_updates`` updates) replaces
``bc``, and is the only step for a synth that cannot render in-process. Run the same command again with the same
``--out`` and an interrupted run resumes from its newest checkpoint; a finished one just prints its summary.

Run folder (``--out RUN_DIR``), read by ``synthmatch export``:

========================= =====================================================================================
path                      content
========================= =====================================================================================
config.toml               the whole :class:`~synthmatch.training.config.TrainConfig` (after --synth/--algo/--seed
                          /--dataset)
checkpoints/latest.pt     the newest checkpoint (torch, ``weights_only`` loadable, replaced atomically): the
                          "observer" and "policy" state dicts, "definition_sha256", "features" (FeatureSettings
                          dict), "max_step", "networks", "done" (plan steps finished), "env_steps",
                          "rl_env_steps", "pair_updates", "updates", "seconds", "stages" (figures of each finished
                          step, and "untrained"), "evaluation" (the newest validation), "imitation_optimiser",
                          "algorithm" (the RL algorithm's state, None before RL), "random" (torch, Python and
                          numpy generator states), "resumes"
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

``--device cuda`` (or ``auto`` where torch sees a GPU) puts the networks, their optimisers and the minibatches
on the GPU; the worker still renders on the CPU and the buffers stay in host memory. Checkpoints load on
either (they are read onto the CPU, then into the networks), so a run may resume on another device.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from synthmatch.definitions import find_definition
from synthmatch.training.config import TrainConfig, load_config
from synthmatch.training.dataset_stage import learn_from_dataset
from synthmatch.training.devices import resolve_device
from synthmatch.training.env_worker import EnvSettings, EnvWorker, check_worker_count
from synthmatch.training.imitation_stage import imitate
from synthmatch.training.rl_stage import reinforce, rl_env_settings
from synthmatch.training.run_summary import format_run_summary
from synthmatch.training.targets import open_recordings
from synthmatch.training.training_run import (
    CONFIG_FILE,
    SUMMARY_FILE,
    RunState,
    TrainingRun,
    plan,
    renders_in_process,
)


def run_stages(run: TrainingRun, workers: int = 1) -> RunState:
    """Run every plan step not done yet, rendering in ``workers`` processes; returns the final state."""
    remaining = run.remaining()
    if not remaining:
        return run.state
    config = run.config
    settings = EnvSettings(config.num_envs, config.synth, config.episode_steps, config.max_step,
                           augment=config.augment)
    # checked before any work: a missing folder fails at once
    rl_settings = rl_env_settings(config, settings) if "rl" in remaining else settings
    with run.open_log():  # closed however the stages end: its files flushed, its writer thread gone
        if remaining[0] == "dataset":
            learn_from_dataset(run)
        imitation_steps = [step for step in remaining if step not in ("dataset", "rl")]
        if imitation_steps:
            with EnvWorker(settings, workers) as env:
                imitate(run, env, imitation_steps)
        if "rl" in remaining:
            with EnvWorker(rl_settings, workers) as env:
                reinforce(run, env)
    return run.state


def summary(config: TrainConfig, state: RunState) -> dict[str, Any]:
    """The summary.json of a finished run: one row per stage, the final validation and the totals."""
    rows = [{"stage": name, **figures} for name, figures in state.stages.items()]
    return {
        "synth": config.synth, "algo": config.algo, "seed": config.seed, "stages": rows,
        "final": state.evaluation, "env_steps": state.env_steps, "updates": state.updates,
        "seconds": state.seconds, "resumes": state.resumes,
    }


def train(
    config: TrainConfig, run_dir: Path, progress: bool = True, device: str = "auto", workers: int = 1
) -> dict[str, Any]:
    """Train (or resume) the run in ``run_dir`` with ``config``; writes config.toml and summary.json, returns it.

    ``device`` (auto, cpu, cuda: :func:`~synthmatch.training.devices.resolve_device`) is where the networks learn;
    ``workers`` (1 to ``num_envs``) how many processes render the environments.
    """
    learner = resolve_device(device)  # checked before the run folder is touched
    check_worker_count(workers, config.num_envs)
    run_dir = Path(run_dir)
    if config.dataset:  # a data set of another synth is refused before the run folder is made
        open_recordings(config.dataset, find_definition(config.synth))
    run_dir.mkdir(parents=True, exist_ok=True)
    run = TrainingRun(config, run_dir, progress, learner)
    (run_dir / CONFIG_FILE).write_text(config.to_toml(), encoding="utf-8")
    state = run_stages(run, workers)
    report = summary(config, state)
    (run_dir / SUMMARY_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The run's configuration: --config (path or shipped name) with --synth/--algo/--seed over it.

    When ``args.out`` already holds a run, that run's config.toml is the base, and what the command line gives
    must agree with it (a ValueError lists the differences and the fix).
    """
    dataset = getattr(args, "dataset", None)
    overrides = {"synth": str(args.synth), "algo": args.algo, "seed": args.seed,
                 "dataset": None if dataset is None else str(dataset)}
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


def describe_plan(config: TrainConfig) -> str:
    """What the run will do, in words: what it imitates, and the stages after that for this synth."""
    in_process = renders_in_process(find_definition(config.synth))
    steps = plan(config, in_process)
    source = f"the recordings of {config.dataset}" if config.dataset else "the oracle's episodes"
    more = [f"{config.imitation.dagger_rounds} DAgger round(s)"] if "dagger1" in steps else []
    more += [config.algo] if "rl" in steps else []
    alone = "" if in_process else f" ({config.synth} cannot render in-process: the data set is the whole training)"
    return f"training {config.synth}: imitation of {source}" + "".join(f" + {m}" for m in more) + alone


def run_train(args: argparse.Namespace) -> int:
    """`synthmatch train`: train or resume, then print the summary table; returns the exit status."""
    config = resolve_config(args)
    learner = resolve_device(args.device)
    check_worker_count(args.workers, config.num_envs)  # refused before the plan is printed, as a missing GPU is
    print(describe_plan(config), f"(seed {config.seed}) in {args.out}, learning on {learner}, rendering in "
          f"{args.workers} process(es)")
    report = train(config, args.out, device=args.device, workers=args.workers)
    print(format_run_summary(report, args.out))
    return 0
