"""Real-time factor of the built-in synth on one CPU core, for a batch of 1 and of 64 (target: 1000x at 64).

Run with ``.venv/bin/python -m bench.bench_synth``. The process pins itself to one core and tells every
numerical library to use one thread before numpy is imported, so the figure is per core.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np

from bench.report import report
from synthmatch.definitions import find_definition
from synthmatch.synths.builtin import BuiltinSynth

#: Renders per second of audio that the batch of 64 must reach (64 renders of 1 s in 64 ms).
TARGET_REAL_TIME_FACTOR = 1000.0
#: (sample rate in Hz or None for the definition's, batch size, target real-time factor or None).
CASES: tuple[tuple[int | None, int, float | None], ...] = (
    (None, 1, None),
    (None, 64, TARGET_REAL_TIME_FACTOR),
    (48000, 1, None),
)
#: Timed renders per case; the median is reported.
REPEATS = 15
COLUMNS = ("synth", "batch", "seconds per batch", "real-time factor", "target")


def seconds_per_batch(synth: BuiltinSynth, batch: int, repeats: int = REPEATS) -> float:
    """Median wall time in seconds of ``synth.render`` on a random batch, after one untimed warm-up render."""
    params = np.random.default_rng(0).random((batch, len(synth.parameters)))
    synth.render(params)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        synth.render(params)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Measure every case in :data:`CASES` and report the table as ``bench/results/synth.json``."""
    definition = find_definition("builtin")
    rows: list[dict[str, Any]] = []
    for sample_rate, batch, target in CASES:
        synth = BuiltinSynth(definition, sample_rate=sample_rate)
        seconds = seconds_per_batch(synth, batch)
        rows.append({
            "synth": f"builtin @ {synth.sample_rate // 1000} kHz",
            "batch": batch,
            "seconds per batch": seconds,
            "real-time factor": batch * definition.note.render_seconds / seconds,
            "target": "-" if target is None else target,
        })
    report("synth", rows, COLUMNS, core=sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None)


if __name__ == "__main__":
    main()
