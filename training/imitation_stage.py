"""The imitation stage of a run: behaviour cloning on the oracle's episodes, then DAgger rounds, each checkpointed.

What is learnt and why is :mod:`synthmatch.training.imitation`'s; this module runs it over a
:class:`~synthmatch.training.training_run.TrainingRun`, updating the networks while the worker renders.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from synthmatch.training.env_worker import EnvWorker
from synthmatch.training.imitation import Demonstrations, collect, network_actor
from synthmatch.training.training_run import (
    BC_STREAM,
    DAGGER_STREAM,
    HELD_OUT_STREAM,
    TrainingRun,
    stream_seed,
)


def imitate(run: TrainingRun, env: EnvWorker, steps: list[str]) -> None:
    """Behaviour cloning and the DAgger rounds in ``steps``, a checkpoint after each."""
    config, seed = run.config.imitation, run.config.seed
    capacity = config.bc_samples + config.dagger_rounds * config.dagger_samples
    data = Demonstrations(capacity, run.mel_shape, run.params, run.config.max_step)
    held_out = Demonstrations(config.validation_samples, run.mel_shape, run.params, run.config.max_step)
    collect(env, held_out, config.validation_samples, stream_seed(seed, HELD_OUT_STREAM), None)
    if "bc" in run.state.done:  # resumed: the oracle's states again, from their seed
        collect(env, data, config.bc_samples, stream_seed(seed, BC_STREAM), None)
    for step in steps:
        started, env_steps = time.perf_counter(), run.state.env_steps
        if step == "bc":
            samples, updates, actor = config.bc_samples, config.bc_updates, None
            stream = stream_seed(seed, BC_STREAM)
        else:
            samples, updates = config.dagger_samples, config.dagger_updates
            actor = network_actor(run.observer, run.policy)
            stream = stream_seed(seed, DAGGER_STREAM, len(run.state.done))
        errors: deque[float] = deque(maxlen=max(1, updates // 10))
        with run.bar(step, updates) as bar:
            fit = imitation_updates(run, data, updates, -(-samples // run.config.num_envs), errors, bar)
            collected = collect(env, data, samples, stream, actor, while_stepping=fit)
            run.state.env_steps += int(collected["env_steps"])
            while fit():  # the updates the collection left
                pass
        figures = {
            "env_steps": run.state.env_steps - env_steps, "updates": updates,
            "seconds": time.perf_counter() - started, "states": len(data),
            "action_mse_train": float(np.mean(errors)),
            "action_mse_held_out": run.imitation.action_mse(held_out),
            **({} if step == "bc" else {"action_mse_on_policy": collected["action_mse"]}),
            **run.validate(),
        }
        run.finish(step, figures)

def imitation_updates(
    run: TrainingRun, data: Demonstrations, updates: int, env_steps: int, errors: deque[float], bar: tqdm
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
        while done < due and len(data) >= run.config.imitation.batch_size:
            errors.append(run.imitation.update(data, run.rng))
            done += 1
            run.state.updates += 1
            if run.state.updates % 50 == 0:
                run.log("imitation/action_mse", errors[-1])
                bar.set_postfix(mse=f"{errors[-1]:.3f}", **run.postfix())
            bar.update(1)
        return done < updates

    return fit
