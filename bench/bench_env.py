"""Environment steps per second on one core: the built-in synth single and batched, and the Nekobi VST3.

Run ``.venv/bin/python -m bench.bench_env``. Actions are uniform random; episodes end and restart as in
training (step limit 32, success), so the longer rows include the restarts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from bench.report import report
from synthmatch.definitions import DefinitionError
from synthmatch.environment_registration import ENV_ID
from synthmatch.synths import Synth, SynthUnavailable, open_synth
from synthmatch.training.vector_environment import SynthMatchVectorEnv

COLUMNS = ("env", "synth", "num_envs", "steps", "seconds", "env_steps_per_s", "ms_per_step", "note")
#: Each row is the best of this many runs, each from a fresh seeded reset (other load only ever slows a run).
REPEATS = 3
#: Untimed steps before each timed run.
WARMUP_STEPS = 2


def best_seconds(reset: Callable[[], Any], step: Callable[[], Any], steps: int) -> float:
    """Fewest seconds, over REPEATS runs, for ``steps`` calls of ``step`` after ``reset`` and a short warm-up."""
    times = []
    for _ in range(REPEATS):
        reset()
        for _ in range(WARMUP_STEPS):
            step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_single(synth: Synth, steps: int) -> dict[str, Any]:
    """One ``gymnasium.make`` environment (with its wrappers), reset whenever an episode ends."""
    env = gym.make(ENV_ID, synth=synth)

    def reset() -> None:
        env.reset(seed=0)
        env.action_space.seed(0)

    def step() -> None:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()

    return row("single", synth, 1, steps, best_seconds(reset, step, steps))


def bench_vector(synth: Synth, num_envs: int, steps: int, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The batched environment with ``num_envs`` episodes; ``options`` go to each run's first reset."""
    envs = SynthMatchVectorEnv(num_envs, synth=synth)

    def reset() -> None:
        envs.reset(seed=0, options=options)
        envs.action_space.seed(0)

    seconds = best_seconds(reset, lambda: envs.step(envs.action_space.sample()), steps)
    return row("vector", synth, num_envs, steps, seconds)


def row(env: str, synth: Synth, num_envs: int, steps: int, seconds: float) -> dict[str, Any]:
    """One line of the table: throughput in environment steps per second and the time of one (batched) step."""
    return {"env": env, "synth": synth.definition.name, "num_envs": num_envs, "steps": steps,
            "seconds": seconds, "env_steps_per_s": num_envs * steps / seconds, "ms_per_step": 1e3 * seconds / steps}


def main() -> None:
    """Measure every row and write bench/results/env.json."""
    builtin = open_synth("builtin")
    rows = [
        bench_single(builtin, steps=200),
        bench_vector(builtin, 16, steps=40),
        bench_vector(builtin, 64, steps=40),
    ]
    try:
        nekobi = open_synth("nekobi")
    except (DefinitionError, SynthUnavailable) as err:
        rows.append({"env": "single", "synth": "nekobi", "note": f"skipped: {err}"})
    else:
        rows.append(bench_single(nekobi, steps=40))
    report("env", rows, COLUMNS)


if __name__ == "__main__":
    main()
