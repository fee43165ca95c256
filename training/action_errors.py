"""Which parameters a run's action error comes from: per-parameter MSE against the oracle on held-out states.

The imitation stage reports one action MSE over all parameters. This splits it by parameter, next to the MSE
of always answering 0 (what a policy that hears nothing gets), so that a parameter the sound does not
determine (``volume_db``, heard at equal loudness; ``key_tracking`` at one note) can be told from one the
observer fails to hear. The states are the run's own held-out oracle states (its seed's held-out stream).

    python -m synthmatch.training.action_errors RUN [RUN ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthmatch.training.config import load_config
from synthmatch.training.env_worker import EnvSettings, EnvWorker
from synthmatch.training.imitation import Demonstrations, collect
from synthmatch.training.training_run import HELD_OUT_STREAM, TrainingRun, stream_seed


def action_errors(run_dir: Path) -> dict[str, Any]:
    """The run's deterministic policy against the oracle on its held-out states, overall and by parameter."""
    config = load_config(run_dir / "config.toml")
    run = TrainingRun(config, run_dir, progress=False)
    count = config.imitation.validation_samples
    held_out = Demonstrations(count, run.mel_shape, run.params, config.max_step)
    settings = EnvSettings(config.num_envs, config.synth, config.episode_steps, config.max_step,
                           augment=config.augment)
    with EnvWorker(settings) as env:
        collect(env, held_out, count, stream_seed(config.seed, HELD_OUT_STREAM), None)
    mse = run.imitation.action_mse_by_parameter(held_out)
    oracle_all = held_out.actions(slice(0, count))
    zero = np.square(oracle_all).mean(axis=0)
    names = [parameter.name for parameter in run.definition.parameters]
    return {
        "run": str(run_dir), "states": count, "mse": float(mse.mean()), "zero_mse": float(zero.mean()),
        "saturated": float(np.mean(np.abs(oracle_all) >= 1.0)),
        "parameters": [{"name": name, "mse": float(m), "zero_mse": float(z)}
                       for name, m, z in zip(names, mse, zero, strict=True)],
    }


def format_errors(errors: dict[str, Any]) -> str:
    """A table of ``errors`` (:func:`action_errors`), the worst-fitted parameter first."""
    lines = [f"{errors['run']}: action MSE {errors['mse']:.3f} on {errors['states']} held-out states "
             f"(answering 0: {errors['zero_mse']:.3f}; oracle steps at +-1: {errors['saturated']:.0%})",
             f"  {'parameter':24s} {'mse':>6s} {'zero':>6s}"]
    for row in sorted(errors["parameters"], key=lambda row: -row["mse"]):
        lines.append(f"  {row['name']:24s} {row['mse']:6.3f} {row['zero_mse']:6.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the per-parameter action errors of each run folder given (a table, or JSON with --json)."""
    parser = argparse.ArgumentParser(prog="python -m synthmatch.training.action_errors", description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path, help="training run folders (synthmatch train --out)")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of the tables")
    args = parser.parse_args(argv)
    missing = [str(run) for run in args.runs if not (run / "config.toml").is_file()]
    if missing:
        print(f"error: not a training run folder (no config.toml): {', '.join(missing)}", file=sys.stderr)
        return 2
    results = [action_errors(run) for run in args.runs]
    print(json.dumps(results, indent=1) if args.json else "\n\n".join(map(format_errors, results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
