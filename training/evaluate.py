"""`synthmatch eval`: every method at every budget on the same targets, in one process, measured the same way.

Targets are either a seeded held-out set of random patches (their patch is known, so parameter MAE is reported), a
folder of recordings (the patch is unknown: ``param_mae`` is null), or the held-out recordings of a data set
(``--dataset``: patch numbers that are multiples of DATASET_HELD_OUT_EVERY, at their own note, patch known). Random
targets are drawn by the training environment's own rules (:meth:`MatchTask.start`: a note uniform over the playable
range, a uniform quantised patch, drawn again while it peaks below AUDIBLE_PEAK_DB) from the stream
``SeedSequence([seed, HELD_OUT_STREAM])``, one child per target, which training never draws from (it seeds with
plain integers), so the first k of N targets are the same for every N. A recording is prepared as
``synthmatch match`` prepares it (:mod:`synthmatch.prepared_target`): the synth holds its note as long as the
recording's is held, at its estimated pitch, and the best patch's output level is set to the recording's loudness.
Every method starts from the definition's default patch (see :mod:`synthmatch.match_methods`), and each (target,
method, budget) has its own random stream.

Each row: ``method``, ``budget``, ``target``, ``note``, ``note_seconds``, ``distance_start``, ``distance`` (primary,
nepers), ``renders``, ``seconds``, ``lsd_db``, ``mfcc_l1``, ``spectral_convergence`` (of the best patch's sound),
for a recording ``fullband_mrstft`` (:mod:`synthmatch.full_band`: the sound ``--audio-out`` writes against the file
at its own rate) and ``gain_db`` (else null), ``param_mae`` (or null), ``success`` (distance below the environment's
success threshold). The summary has, per method and budget, the median and interquartile range of the distance, the
medians of the other metrics, the success rate, the mean renders and the wall time. See docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from synthmatch import __version__
from synthmatch.agent import default_model_dir
from synthmatch.agent_methods import NETWORKS, agent_parts, load_model
from synthmatch.definitions import find_definition
from synthmatch.distances import DISTANCES, PRIMARY, param_mae
from synthmatch.full_band import FullBandTarget, full_band_distance, read_full_band
from synthmatch.machine import describe_machine
from synthmatch.match_figures import require_matplotlib
from synthmatch.match_methods import match_method
from synthmatch.matching import MatchResult
from synthmatch.prepared_target import PreparedTarget, level_of
from synthmatch.synths import Synth, open_synth
from synthmatch.training.environment import DEFAULT_SUCCESS_THRESHOLD
from synthmatch.training.eval_figures import plot_evaluation
from synthmatch.training.targets import (
    DATASET_HELD_OUT_EVERY,
    HELD_OUT_STREAM,
    Target,
    dataset_targets,
    folder_targets,
    random_targets,
)

#: Second seed word of the methods' streams: default_rng([seed, METHOD_STREAM, crc32(method), budget, target]).
METHOD_STREAM = 0xBA5E
#: Random targets when neither --targets nor --random is given.
DEFAULT_RANDOM_TARGETS = 256
#: Audio distances measured on each best patch besides the primary one (names from synthmatch.distances).
SECONDARY = ("lsd_db", "mfcc_l1", "spectral_convergence")
#: Keys of every row, in order.
ROW_KEYS = ("method", "budget", "target", "note", "note_seconds", "distance_start", "distance", "renders", "seconds",
            *SECONDARY, "fullband_mrstft", "gain_db", "param_mae", "success")


def evaluate(
    synth: Synth, targets: Sequence[Target], methods: Sequence[str], budgets: Sequence[int], seed: int,
    model_dir: Path | None = None, progress: bool = False,
) -> list[dict[str, Any]]:
    """One row (see ROW_KEYS) per target, method and budget, in that nesting order; progress on stderr if asked.

    The methods that need a model load it from ``model_dir`` (None: the synth's shipped one) before any timing.
    """
    registered = {name: match_method(name) for name in methods}
    for method in registered.values():
        if method.network is not None:
            load_model(NETWORKS[method.network], model_dir, synth.definition)
    functions = {name: method.load() for name, method in registered.items()}
    rows = []
    runs = tqdm(total=len(targets) * len(methods) * len(budgets), desc="eval", unit="match", file=sys.stderr,
                disable=None if progress else True)
    synths = {synth.definition.note.note_seconds: synth}
    for index, target in enumerate(targets):
        held = synth if target.prepared is None else held_synth(synths, target.prepared)
        full_band = None if target.path is None else read_full_band(target.path)
        for name in methods:
            runs.set_postfix(target=target.name, method=name, refresh=False)
            for budget in budgets:
                rng = np.random.default_rng([seed, METHOD_STREAM, zlib.crc32(name.encode()), budget, index])
                result = functions[name](held, target.audio, target.note, budget, rng, model_dir)
                rows.append(result_row(held, target, full_band, name, budget, result))
                runs.update()
    runs.close()
    return rows


def held_synth(synths: dict[float, Synth], prepared: PreparedTarget) -> Synth:
    """The synth holding the target's note as long as it is held, from ``synths`` (by note length) or opened."""
    key = prepared.note_seconds
    if key not in synths:
        synths[key] = open_synth(prepared.definition)
    return synths[key]


def result_row(
    synth: Synth, target: Target, full_band: FullBandTarget | None, method: str, budget: int, result: MatchResult
) -> dict[str, Any]:
    """One row of the report (ROW_KEYS): the match, its best patch's sound measured, its output level and, for
    a recording, the full-band distance of the sound ``--audio-out`` writes."""
    best_audio = synth.render(result.params[None], target.note)
    level = None if target.prepared is None else level_of(synth, result.params, target.prepared)
    return {
        "method": method, "budget": budget, "target": target.name, "note": target.note,
        "note_seconds": synth.definition.note.note_seconds, "distance_start": result.distance_start,
        "distance": result.distance, "renders": result.renders, "seconds": result.seconds,
        **{metric: float(DISTANCES[metric](best_audio, target.audio[None], synth.sample_rate)[0])
           for metric in SECONDARY},
        "fullband_mrstft": None if target.prepared is None or level is None or full_band is None
        else full_band_distance(target.prepared, full_band, level),
        "gain_db": None if level is None else level.gain_db,
        "param_mae": None if target.params is None else float(param_mae(result.params, target.params)[0]),
        "success": result.distance < DEFAULT_SUCCESS_THRESHOLD,
    }


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per method and budget (in the rows' order): medians, the distance's interquartile range, rates and costs."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["budget"]), []).append(row)
    summary = []
    for (method, budget), group in groups.items():
        def column(key: str, group: list[dict[str, Any]] = group) -> npt.NDArray[np.float64]:
            return np.array([row[key] for row in group if row[key] is not None], dtype=np.float64)

        distance, errors, seconds = column("distance"), column("param_mae"), column("seconds")
        summary.append({
            "method": method, "budget": budget, "targets": len(group),
            "distance_median": float(np.median(distance)),
            "distance_iqr": [float(np.percentile(distance, 25)), float(np.percentile(distance, 75))],
            "distance_start_median": float(np.median(column("distance_start"))),
            **{f"{metric}_median": float(np.median(column(metric))) for metric in SECONDARY},
            "fullband_mrstft_median": median_or_none(column("fullband_mrstft")),
            "param_mae_median": median_or_none(errors),
            "success_rate": float(np.mean(column("success"))),
            "renders_mean": float(np.mean(column("renders"))),
            "seconds_median": float(np.median(seconds)),
            "seconds_total": float(np.sum(seconds)),
        })
    return summary


def median_or_none(values: npt.NDArray[np.float64]) -> float | None:
    """The median of ``values``, None when there are none (a column only some targets have)."""
    return float(np.median(values)) if values.size else None


def format_table(summary: Sequence[dict[str, Any]]) -> str:
    """The summary as an aligned text table for the screen."""
    header = ("method", "budget", f"{PRIMARY} median [IQR]", "full-band", "lsd_db", "mfcc_l1", "spec_conv",
              "param_mae", "success", "renders", "s/target")
    lines = [header]
    for s in summary:
        q25, q75 = s["distance_iqr"]
        mae = "-" if s["param_mae_median"] is None else f"{s['param_mae_median']:.3f}"
        full_band = s.get("fullband_mrstft_median")  # absent in reports written before it was measured
        lines.append((
            s["method"], str(s["budget"]), f"{s['distance_median']:.3f} [{q25:.3f}, {q75:.3f}]",
            "-" if full_band is None else f"{full_band:.3f}",
            f"{s['lsd_db_median']:.2f}", f"{s['mfcc_l1_median']:.2f}", f"{s['spectral_convergence_median']:.3f}",
            mae, f"{100 * s['success_rate']:.0f}%", f"{s['renders_mean']:.0f}", f"{s['seconds_median']:.3f}",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(text)


def parse_methods(text: str) -> list[str]:
    """``--methods`` as a list of known method names, in order, without repeats; did-you-mean errors."""
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise ValueError(f"--methods {text!r} names no method; give e.g. agent,random,cmaes,oneshot")
    for name in names:
        match_method(name)
    return names


def parse_budgets(text: str) -> list[int]:
    """``--budgets`` as a list of whole numbers >= 1 (steps or renders), in order, without repeats."""
    budgets = []
    for part in (part.strip() for part in text.split(",")):
        if not part.isdigit() or int(part) < 1:
            raise ValueError(f"--budgets {text!r}: {part!r} is not a whole number >= 1; give e.g. 8,16,32,64")
        budgets.append(int(part))
    return list(dict.fromkeys(budgets))


def run_eval(args: argparse.Namespace) -> int:
    """`synthmatch eval`: the summary table on screen (or one JSON object with --json), the report to --out,
    the figure to --plot."""
    methods, budgets = parse_methods(args.methods), parse_budgets(args.budgets)
    plot = args.plot
    if plot is not None:
        require_matplotlib()  # before the evaluation, which may take hours
    definition = find_definition(args.synth)
    synth = open_synth(definition)
    model_dir = None
    if any(match_method(name).network is not None for name in methods):
        model_dir = args.model if args.model is not None else default_model_dir(definition)
    if args.targets is not None:
        targets = folder_targets(synth, args.targets)
        described: dict[str, Any] = {"kind": "folder", "path": str(args.targets), "count": len(targets)}
    elif getattr(args, "dataset", None) is not None:
        targets = dataset_targets(synth, args.dataset)
        described = {"kind": "dataset", "path": str(args.dataset), "count": len(targets),
                     "held_out_every": DATASET_HELD_OUT_EVERY}
    else:
        count = DEFAULT_RANDOM_TARGETS if args.random is None else args.random
        targets = random_targets(synth, count, args.seed)
        described = {"kind": "random", "count": count, "stream": f"SeedSequence([{args.seed}, {HELD_OUT_STREAM:#x}])"}
    parts: dict[str, Any] = {"relay": None, "starts": None, "oneshot_start": None}
    if any(match_method(name).network == "agent" for name in methods):
        parts = agent_parts(model_dir, definition)
    began = time.perf_counter()
    rows = evaluate(synth, targets, methods, budgets, args.seed, model_dir, progress=True)
    report = {
        "rows": rows, "summary": summarise(rows), "synth": definition.name, "synth_sha256": definition.sha256,
        "seed": args.seed, "targets": described, "methods": methods, "budgets": budgets,
        "model": None if model_dir is None else str(model_dir), **parts,
        "success_threshold": DEFAULT_SUCCESS_THRESHOLD,
        "seconds": time.perf_counter() - began, "machine": describe_machine(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "synthmatch_version": __version__,
    }
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if plot is not None:
        plot_evaluation([report], plot)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{definition.name}: {len(targets)} {described['kind']} targets, seed {args.seed}, "
              f"{report['seconds']:.0f} s; distances in nepers, success below {DEFAULT_SUCCESS_THRESHOLD}")
        print(format_table(report["summary"]))
        if plot is not None:
            print(f"figure written to {plot}")
    return 0
