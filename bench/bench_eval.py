"""The headline evaluation: every method at every budget on 256 held-out random patches and on the real set.

Run ``.venv/bin/python -m bench.bench_eval`` (one core, see bench/__init__.py). It writes
``bench/results/eval_SYNTH_random.json`` and ``eval_SYNTH_real.json``: the summary per method and budget as
``rows`` (with ``distance_q25``/``distance_q75`` beside the median), every match under ``matches``, and the
headline comparison at 32 under ``headline``. The real set is ``bench/targets/real/`` from
scripts/make-real-targets.sh (skipped with a note when missing). Start small, then go full::

    python -m bench.bench_eval --targets 16 --budgets 8,32          # about a minute
    python -m bench.bench_eval                                      # 256 targets, 8..1024: 1.7 h

Each option also reads an environment variable (EVAL_SYNTH, EVAL_TARGETS, EVAL_BUDGETS, EVAL_METHODS, EVAL_MODEL,
EVAL_REAL, EVAL_SEED). Cost, measured on one core of the 2-core dev box (3 targets, all budgets, untrained
default-size model): the budgets 8+16+32+64+256+1024 add up to 1400 renders or agent steps per target and method;
an agent step takes about 4.8 ms (render, features, observer, policy), a search render about 2.5 ms, so a target
takes about 6.5 s for the agent, 6.8 s for agent+refine, 3.6 s for random, 3.3 s for CMA-ES and 20 s in all:
about 85 minutes for 256 targets and 16 minutes for the 48 real ones. The nevergrad searches (oneplusone,
ngopt) add roughly 3 hours for 256 targets (NGOpt's MetaModel at 1024: docs/evaluation.md); --methods leaves
them out.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.report import report
from synthmatch.definitions import find_definition
from synthmatch.match_methods import METHOD_NAMES, METHODS
from synthmatch.synths import Synth, open_synth
from synthmatch.training.evaluate import evaluate, parse_budgets, parse_methods, summarise
from synthmatch.training.targets import Target, folder_targets, random_targets

REAL_TARGETS = Path(__file__).resolve().parent / "targets" / "real"
COLUMNS = ("method", "budget", "distance_median", "distance_q25", "distance_q75", "lsd_db_median",
           "mfcc_l1_median", "param_mae_median", "success_rate", "renders_mean", "seconds_median")
#: The budget of the issue's headline: the agent at 32 steps against the others at 32 renders and CMA-ES at 1024.
HEADLINE_BUDGET = 32


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The options, each defaulting to its EVAL_* environment variable, then to the full evaluation."""
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m bench.bench_eval", description=__doc__.splitlines()[0])
    parser.add_argument("--synth", default=env("EVAL_SYNTH", "builtin"), help="synth definition (builtin)")
    parser.add_argument("--targets", type=int, default=int(env("EVAL_TARGETS", "256")), help="random targets")
    parser.add_argument("--budgets", default=env("EVAL_BUDGETS", "8,16,32,64,256,1024"), help="comma list")
    parser.add_argument("--methods", default=env("EVAL_METHODS", ",".join(METHOD_NAMES)), help="comma list")
    parser.add_argument("--model", type=Path, default=env("EVAL_MODEL"), help="model folder (default: shipped)")
    parser.add_argument("--real", type=Path, default=Path(env("EVAL_REAL", str(REAL_TARGETS))),
                        help="folder of recorded targets (default bench/targets/real)")
    parser.add_argument("--seed", type=int, default=int(env("EVAL_SEED", "1234")), help="seed (1234)")
    return parser.parse_args(argv)


def headline(summary: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Median distances of the issue's comparison: every method at HEADLINE_BUDGET, every search at its largest."""
    figures = {f"{s['method']}@{s['budget']}": s["distance_median"] for s in summary
               if s["budget"] == HEADLINE_BUDGET}
    for search in (name for name, method in METHODS.items() if method.network is None):
        runs = [s for s in summary if s["method"] == search]
        if runs:
            largest = max(runs, key=lambda s: s["budget"])
            figures[f"{search}@{largest['budget']}"] = largest["distance_median"]
    return figures


def run(name: str, synth: Synth, args: argparse.Namespace, targets: list[Target], kind: str) -> None:
    """Evaluate ``targets`` with every method and budget and report them as bench/results/NAME.json."""
    methods, budgets = parse_methods(args.methods), parse_budgets(args.budgets)
    rows = evaluate(synth, targets, methods, budgets, args.seed, args.model, progress=True)
    summary = summarise(rows)
    table = [{**s, "distance_q25": s["distance_iqr"][0], "distance_q75": s["distance_iqr"][1]} for s in summary]
    report(name, table, COLUMNS, matches=rows, headline=headline(summary), synth=synth.definition.name,
           targets={"kind": kind, "count": len(targets)}, seed=args.seed, methods=methods, budgets=budgets,
           model=None if args.model is None else str(args.model))


def main(argv: Sequence[str]) -> None:
    """The random held-out set, then the real set if it has been rendered."""
    args = parse_args(argv)
    synth = open_synth(find_definition(args.synth))
    name = synth.definition.name
    run(f"eval_{name}_random", synth, args, random_targets(synth, args.targets, args.seed), "random")
    if args.real.is_dir():
        run(f"eval_{name}_real", synth, args, folder_targets(synth, args.real), f"folder {args.real}")
    else:
        print(f"\nno real targets in {args.real}: run scripts/make-real-targets.sh to add them", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
