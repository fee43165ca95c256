"""Nekobi data set throughput (patches per second): one worker in this process, two local worker processes, and two
Ray actors on a one-node Ray cluster on loopback (target: 2 Ray actors at least 1.6x one worker).

Run with ``.venv/bin/python -m bench dataset [--patches N]``. Each setup first renders a small warm-up data set (so
plugin loading and actor start-up are not counted), then N patches into a new folder, shards written as the command
writes them; the figure is N over that wall time. On a machine shared with other work the ratio is lower than the
cores allow: the JSON keeps the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.ray_cluster import local_ray_cluster
from bench.report import report
from synthmatch.dataset_maker import make_dataset
from synthmatch.dataset_render import InProcess, LocalPool, ShardRenderer
from synthmatch.datasets import Manifest
from synthmatch.definitions import SynthDefinition, find_definition
from synthmatch.synths import open_synth

#: Patches per shard in the benchmark.
SHARD_SIZE = 32
#: What two Ray actors must reach, as a multiple of one worker's throughput.
TARGET_SPEED_UP = 1.6
COLUMNS = ("setup", "workers", "patches", "seconds", "patches/s", "speed-up", "target")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """``--patches N`` (default 256) and ``--seed S``."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_dataset", description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, default=256, metavar="N", help="patches timed per setup (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the patches (default 0)")
    return parser.parse_args(argv)


def throughput(definition: SynthDefinition, renderer: ShardRenderer, patches: int, seed: int) -> float:
    """Seconds ``renderer`` takes for ``patches`` patches after a warm-up of two shards; the renderer is closed."""
    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as folder:
        warm = Manifest.for_definition(definition, seed=seed + 1, patches=2 * SHARD_SIZE, source="render",
                                       shard_size=SHARD_SIZE)
        timed = Manifest.for_definition(definition, seed=seed, patches=patches, source="render", shard_size=SHARD_SIZE)
        quiet = open(os.devnull, "w")  # noqa: SIM115 - the progress lines are not the benchmark's output
        try:
            for _ in renderer.render(warm, range(warm.shard_count)):
                pass
            began = time.perf_counter()
            make_dataset(Path(folder) / "timed", definition, timed, _Kept(renderer), stream=quiet)
            return time.perf_counter() - began
        finally:
            quiet.close()
            renderer.close()


class _Kept:
    """A renderer whose close is left to its owner, so that the warm-up and the timed run share its workers."""

    def __init__(self, renderer: ShardRenderer) -> None:
        self.renderer = renderer

    def render(self, manifest: Manifest, shards: Sequence[int]) -> Any:
        """The wrapped renderer's shards."""
        return self.renderer.render(manifest, shards)

    def close(self) -> None:
        """Nothing: the owner closes the renderer."""


def main(argv: Sequence[str]) -> None:
    """Measure the three setups on Nekobi and report ``bench/results/dataset.json``."""
    args = parse_args(argv)
    definition = find_definition("nekobi")
    load_before = os.getloadavg()
    setups: list[tuple[str, int, Callable[[], ShardRenderer]]] = [
        ("1 worker, in-process", 1, lambda: InProcess(open_synth(definition))),
        ("2 local worker processes", 2, lambda: LocalPool(definition, 2)),
    ]
    rows: list[dict[str, Any]] = []
    for name, workers, make in setups:
        rows.append(_row(name, workers, args.patches, throughput(definition, make(), args.patches, args.seed)))
    from synthmatch.dataset_ray import RayRenderer

    with local_ray_cluster(cpus=2) as address:
        seconds = throughput(definition, RayRenderer(address, definition, 2), args.patches, args.seed)
        rows.append(_row("2 Ray actors, local cluster", 2, args.patches, seconds, TARGET_SPEED_UP))
    for row in rows:
        row["speed-up"] = row["patches/s"] / rows[0]["patches/s"]
    report("dataset", rows, COLUMNS, synth="nekobi", shard_size=SHARD_SIZE, cpus=os.cpu_count(),
           load_average_before=load_before, load_average_after=os.getloadavg())


def _row(name: str, workers: int, patches: int, seconds: float, target: float | None = None) -> dict[str, Any]:
    """One setup's row of the table."""
    return {"setup": name, "workers": workers, "patches": patches, "seconds": seconds,
            "patches/s": patches / seconds, "target": "-" if target is None else f">= {target}x"}


if __name__ == "__main__":
    main(sys.argv[1:])
