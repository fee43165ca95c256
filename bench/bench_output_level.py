"""Setting the output level: the search of synthmatch.output_level against the 33-value grid it replaced.

Run with ``.venv/bin/python -m bench output_level [--targets N]``. On the built-in synth and on Nekobi (skipped
when the plugin is not built), N random patches (default 20, seed 0), each with a target: the render of another
random patch brought to a loudness drawn evenly from -50 to -10 dB re full scale (some beyond the volume's
reach, where both must clip to an end). For each, the old grid (33 values evenly spaced over the volume's
normalised range, one batch) and the search (``set_output_level``) choose a volume; the table gives the loudness
error of each against the target (within the volume's reach, and where it clips), the difference between the two
chosen levels in dB, the renders and the seconds per call. Per-target figures go into the JSON.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from bench.report import report
from synthmatch.loudness import loudness_db
from synthmatch.output_level import output_level_parameter, set_output_level
from synthmatch.params import quantise_all
from synthmatch.synths import Synth, SynthUnavailable, open_synth

NAME = "output_level"
#: The grid the search replaced: this many values evenly spaced over the normalised range, rendered in one batch.
GRID_PROBES = 33
#: Target loudness is drawn evenly from this range, in dB re full scale.
TARGET_DBFS = (-50.0, -10.0)
COLUMNS = ("synth", "method", "targets", "in reach", "median |error| dB", "max |error| dB", "clipped |error| dB",
           "median renders", "max renders", "median s", "median |new - grid| dB", "max |new - grid| dB")


def grid_level(
    synth: Synth, params: np.ndarray, index: int, target_dbfs: float, note: int
) -> tuple[float, float, float]:
    """The old rule: the loudness of the grid value closest to the target's, and the loudness at both ends."""
    probes = np.repeat(params[None], GRID_PROBES, axis=0)
    probes[:, index] = np.linspace(0.0, 1.0, GRID_PROBES)
    levels = loudness_db(synth.render(quantise_all(synth.definition, probes), note))
    return float(levels[int(np.argmin(np.abs(levels - target_dbfs)))]), float(levels[0]), float(levels[-1])


def measure(synth: Synth, count: int) -> list[dict[str, Any]]:
    """Both methods on ``count`` random patches and targets of ``synth``: one row per target."""
    definition = synth.definition
    index = output_level_parameter(definition)
    assert index is not None, f"{definition.name} has no output-level parameter"
    note = definition.note.midi_note
    rng = np.random.default_rng(0)
    rows = []
    for i in range(count):
        params, other = quantise_all(definition, rng.random((2, len(definition.parameters))))
        target_dbfs = float(rng.uniform(*TARGET_DBFS))
        heard = synth.render(other[None], note)[0]
        target = heard * np.float32(10 ** ((target_dbfs - loudness_db(heard)[0]) / 20))
        began = time.perf_counter()
        grid_dbfs, lowest, loudest = grid_level(synth, params, index, target_dbfs, note)
        grid_s = time.perf_counter() - began
        began = time.perf_counter()
        level = set_output_level(synth, params, target, note)
        search_s = time.perf_counter() - began
        search_dbfs = level.target_loudness_dbfs - level.gain_db
        rows.append({"patch": i, "target_dbfs": level.target_loudness_dbfs, "in_reach": lowest < target_dbfs < loudest,
                     "grid_error_db": grid_dbfs - target_dbfs, "search_error_db": search_dbfs - target_dbfs,
                     "new_minus_grid_db": search_dbfs - grid_dbfs, "grid_renders": GRID_PROBES,
                     "search_renders": level.renders, "grid_s": grid_s, "search_s": search_s})
    return rows


def summary(synth: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One table row per method: its errors within reach and where it clips, renders and time."""
    reach = [r for r in rows if r["in_reach"]]
    clipped = [r for r in rows if not r["in_reach"]]
    table = []
    for method in ("grid", "search"):
        errors = [abs(r[f"{method}_error_db"]) for r in reach] or [float("nan")]
        renders = [r[f"{method}_renders"] for r in rows]
        row: dict[str, Any] = {
            "synth": synth, "method": method, "targets": len(rows), "in reach": len(reach),
            "median |error| dB": statistics.median(errors), "max |error| dB": max(errors),
            "clipped |error| dB": statistics.median([abs(r[f"{method}_error_db"]) for r in clipped] or [float("nan")]),
            "median renders": statistics.median(renders), "max renders": max(renders),
            "median s": statistics.median(r[f"{method}_s"] for r in rows),
        }
        if method == "search":
            differences = [abs(r["new_minus_grid_db"]) for r in rows]
            row.update({"median |new - grid| dB": statistics.median(differences),
                        "max |new - grid| dB": max(differences)})
        table.append(row)
    return table


def main() -> None:
    """Measure on the built-in synth and on Nekobi (when built); report ``bench/results/output_level.json``."""
    parser = argparse.ArgumentParser(prog="python -m bench output_level", description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=20, help="random patches and targets per synth (default 20)")
    args = parser.parse_args()
    table: list[dict[str, Any]] = []
    per_target: dict[str, list[dict[str, Any]]] = {}
    for name in ("builtin", "nekobi"):
        try:
            synth = open_synth(name)
        except SynthUnavailable as err:
            print(f"{name} skipped: {err}")
            continue
        per_target[name] = measure(synth, args.targets)
        table += summary(name, per_target[name])
    report(NAME, table, COLUMNS, targets=per_target, target_dbfs=TARGET_DBFS, grid_probes=GRID_PROBES)


if __name__ == "__main__":
    main()
