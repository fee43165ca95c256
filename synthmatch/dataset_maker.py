"""Making a data set: start or resume the folder, render the missing shards somewhere, write each as it comes.

The driver of ``synthmatch dataset``: it writes the manifest (or checks it, to resume), asks a renderer
(:mod:`synthmatch.dataset_render`, :mod:`synthmatch.dataset_ray`) for the shards that are missing, writes each one
atomically as soon as it arrives, shows progress (rate, ETA, skipped takes) on stderr, and writes ``summary.json``
at the end, also when the run stops on an error: every shard written stays, and the same command resumes.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from synthmatch.atomic_file import write_atomically
from synthmatch.dataset_render import ShardRenderer, Verdict
from synthmatch.datasets import Dataset, Manifest, open_dataset, shard_counts, shard_path, write_manifest, write_shard
from synthmatch.definitions import SynthDefinition

#: The summary of a data set folder, rewritten at the end of every run.
SUMMARY_NAME = "summary.json"
#: Seconds between two progress lines when stderr is not a terminal.
LOG_EVERY_S = 5.0


class SynthStoppedSounding(RuntimeError):
    """Too many takes in a row were silent: the synth stopped sounding (unplugged, muted, killed)."""


@dataclass
class Tally:
    """Patches of a data set: written so far (kept, silent, broken) and the shards that hold them."""

    patches: int
    shards_written: int
    shards: int
    kept: int = 0
    skipped_silent: int = 0
    skipped_broken: int = 0

    @property
    def done(self) -> int:
        """Patches written so far, kept or skipped."""
        return self.kept + self.skipped_silent + self.skipped_broken

    def line(self) -> str:
        """One line for people: how many patches are kept and skipped of how many."""
        return (f"{self.done}/{self.patches} patches in {self.shards_written}/{self.shards} shards: {self.kept} "
                f"kept, {self.skipped_silent} skipped silent, {self.skipped_broken} skipped broken")


def tally(dataset: Dataset) -> Tally:
    """The counts of the shards written so far in ``dataset`` (reads no audio)."""
    numbers = dataset.shard_numbers()
    result = Tally(dataset.manifest.patches, len(numbers), dataset.manifest.shard_count)
    for j in numbers:
        kept, silent, broken = shard_counts(shard_path(dataset.folder, j))
        result.kept += kept
        result.skipped_silent += silent
        result.skipped_broken += broken
    return result


class Progress:
    """The progress line on stderr: patches done, this run's rate, the ETA, and the takes skipped so far."""

    def __init__(self, counts: Tally, stream: TextIO | None = None) -> None:
        self.counts = counts
        self.stream = stream or sys.stderr
        self.began = time.monotonic()
        self.at_start = counts.done
        self.tty = self.stream.isatty()
        self.last_line = 0.0

    @property
    def rate(self) -> float:
        """Patches per second in this run."""
        return (self.counts.done - self.at_start) / max(time.monotonic() - self.began, 1e-9)

    def show(self, force: bool = False) -> None:
        """Print the line: in place on a terminal, else every :data:`LOG_EVERY_S` seconds (and when forced)."""
        now = time.monotonic()
        if not (self.tty or force or now - self.last_line >= LOG_EVERY_S):
            return
        self.last_line = now
        c, rate = self.counts, self.rate
        eta = f"ETA {(c.patches - c.done) / rate:.0f} s" if rate > 0 else "ETA -"
        text = (f"dataset: {c.done}/{c.patches} patches ({100 * c.done / c.patches:.0f}%), {rate:.1f} patches/s, "
                f"{eta}, skipped {c.skipped_silent} silent, {c.skipped_broken} broken")
        self.stream.write(f"\r{text}\x1b[K" if self.tty else text + "\n")
        self.stream.flush()

    def end(self) -> None:
        """End the in-place line."""
        if self.tty:
            self.stream.write("\n")


def silence_watch(definition: SynthDefinition, limit: int) -> Callable[[int, Verdict], None]:
    """A take watch that stops the run after ``limit`` silent takes in a row, naming them and what to check."""
    streak: list[int] = []

    def watch(patch: int, call: Verdict) -> None:
        """Count this take; raise SynthStoppedSounding when the streak of silent ones reaches the limit."""
        if call != "silent":
            streak.clear()
            return
        streak.append(patch)
        if len(streak) >= limit:
            raise SynthStoppedSounding(
                f"{definition.name} stopped sounding: the last {limit} takes (patches {streak[0]}..{streak[-1]}) "
                "were silent; check that it is running, unmuted and connected to the audio input, then run the "
                "same command again to resume"
            )

    return watch


@dataclass(frozen=True)
class RunResult:
    """What a run did: the data set's tally after it, this run's patches and seconds, whether it is complete."""

    counts: Tally
    patches_this_run: int
    seconds: float
    complete: bool

    @property
    def rate(self) -> float:
        """This run's patches per second."""
        return self.patches_this_run / max(self.seconds, 1e-9)


def make_dataset(
    folder: Path, definition: SynthDefinition, manifest: Manifest, renderer: ShardRenderer,
    stream: TextIO | None = None,
) -> RunResult:
    """Start or resume the data set ``manifest`` in ``folder`` and render its missing shards with ``renderer``.

    Each shard is written as it arrives; on any error the shards written stay and ``summary.json`` says how far
    the run got, then the error propagates. The renderer is closed in every case.
    """
    try:
        write_manifest(folder, manifest)
        dataset = open_dataset(folder, definition)
        missing = dataset.missing_shards()
        counts = tally(dataset)
        progress = Progress(counts, stream)
        began, at_start = time.monotonic(), counts.done
        try:
            progress.show(force=True)
            for number, shard in renderer.render(dataset.manifest, missing):
                write_shard(folder, dataset.manifest, number, shard)
                counts.shards_written += 1
                counts.kept += len(shard.index)
                counts.skipped_silent += len(shard.skipped_silent)
                counts.skipped_broken += len(shard.skipped_broken)
                progress.show()
        finally:
            progress.show(force=True)
            progress.end()
            result = RunResult(counts, counts.done - at_start, time.monotonic() - began, dataset.complete)
            write_summary(folder, result)
    finally:
        renderer.close()
    return result


def write_summary(folder: Path, result: RunResult) -> Path:
    """Write ``summary.json``: the tally, whether the data set is complete, and the last run's rate."""
    data = {**asdict(result.counts), "complete": result.complete,
            "last_run": {"patches": result.patches_this_run, "seconds": round(result.seconds, 3),
                         "patches_per_second": round(result.rate, 3)}}
    return write_atomically(folder / SUMMARY_NAME, json.dumps(data, indent=2) + "\n")
