"""Rendering a data set's shards: each patch of a shard played once, its take kept, or skipped as silent or broken.

:func:`render_shard` is the one place a shard is made, wherever it runs: in this process, in a local worker process
(:class:`LocalPool`, one synth instance per process), or in a Ray actor (:mod:`synthmatch.dataset_ray`). Every
renderer yields finished shards as ``(number, Shard)``; the driver (:mod:`synthmatch.dataset_maker`) writes them.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from synthmatch.audio_files import silent_peak_dbfs
from synthmatch.datasets import Manifest, Shard, patches_for
from synthmatch.definitions import SynthDefinition
from synthmatch.synths import Synth, open_synth

Verdict = Literal["kept", "silent", "broken"]
#: A take with more than this fraction of its samples at full scale (|x| >= :data:`FULL_SCALE`) is clipped.
CLIPPED_FRACTION = 0.01
#: What counts as full scale for the clipping test.
FULL_SCALE = 0.999


def verdict(take: npt.NDArray[np.float32]) -> Verdict:
    """Whether a take ``[N]`` is kept, silent (peak below the silence level) or broken (NaN/inf, or clipped)."""
    if not np.all(np.isfinite(take)):
        return "broken"
    if np.mean(np.abs(take) >= FULL_SCALE) > CLIPPED_FRACTION:
        return "broken"
    return "silent" if silent_peak_dbfs(take) is not None else "kept"


#: Called after each take with the patch number and its verdict; may raise to stop the run (a rig gone silent).
TakeWatch = Callable[[int, Verdict], None]


def render_shard(
    synth: Synth, manifest: Manifest, shard: int, *, one_at_a_time: bool = False,
    watch: TakeWatch | None = None, fatal: tuple[type[BaseException], ...] = (),
) -> Shard:
    """Render shard number ``shard`` of ``manifest`` on ``synth``: its patches, kept or skipped.

    In-process synths render the shard as one batch (a batch that raises is rendered again row by row, and a row
    that raises is broken); ``one_at_a_time`` renders row by row from the start (a live synth). An error of a type
    in ``fatal`` (a transport gone) is not a broken take: it stops the run.
    """
    indices = manifest.shard_indices(shard)
    params, notes = patches_for(manifest.seed, indices, synth.definition)
    takes = _takes(synth, params.astype(np.float64), notes, one_at_a_time, fatal, watch, indices)
    rows: dict[Verdict, list[int]] = {"kept": [], "silent": [], "broken": []}
    kept_audio = []
    for row, take in enumerate(takes):
        call: Verdict = "broken" if take is None else verdict(take)
        rows[call].append(row)
        if take is not None and call == "kept":
            kept_audio.append(take)
        if watch is not None and not one_at_a_time:
            watch(int(indices[row]), call)
    kept, silent, broken = rows["kept"], rows["silent"], rows["broken"]
    audio = np.stack(kept_audio) if kept_audio else np.zeros((0, manifest.samples), np.float32)
    return Shard(
        index=indices[kept], params=params[kept], note=notes[kept], audio=audio.astype(np.float32),
        skipped_silent=indices[silent], skipped_broken=indices[broken],
    )


def _takes(
    synth: Synth, params: npt.NDArray[np.float64], notes: npt.NDArray[np.int16], one_at_a_time: bool,
    fatal: tuple[type[BaseException], ...], watch: TakeWatch | None, indices: npt.NDArray[np.int64],
) -> list[npt.NDArray[np.float32] | None]:
    """Each row's take ``[N]``, or None where its render raised (an error in ``fatal`` propagates)."""
    if not one_at_a_time:
        try:
            return list(synth.render(params, notes.astype(np.int64)))
        except fatal:
            raise
        except Exception:  # noqa: BLE001 - one bad patch must not lose the shard: find it row by row
            pass
    takes: list[npt.NDArray[np.float32] | None] = []
    for row in range(len(params)):
        try:
            take: npt.NDArray[np.float32] | None = synth.render(params[row:row + 1], int(notes[row]))[0]
        except fatal:
            raise
        except Exception:  # noqa: BLE001 - the render raised: a broken take, counted as such
            take = None
        takes.append(take)
        if watch is not None and one_at_a_time:
            watch(int(indices[row]), "broken" if take is None else verdict(take))
    return takes


class ShardRenderer(Protocol):
    """Somewhere shards are rendered: yields ``(number, Shard)`` for each of ``shards`` as each is finished."""

    def render(self, manifest: Manifest, shards: Sequence[int]) -> Iterator[tuple[int, Shard]]:
        """Render ``shards`` of ``manifest``, yielding each as it is finished (in any order)."""
        ...

    def close(self) -> None:
        """Release the synths and workers."""
        ...


class InProcess:
    """Shards rendered one after another by one synth in this process (a rig's live synth, or --workers 1)."""

    def __init__(self, synth: Synth, *, one_at_a_time: bool = False, watch: TakeWatch | None = None,
                 fatal: tuple[type[BaseException], ...] = ()) -> None:
        self.synth, self.one_at_a_time, self.watch, self.fatal = synth, one_at_a_time, watch, fatal

    def render(self, manifest: Manifest, shards: Sequence[int]) -> Iterator[tuple[int, Shard]]:
        """Render each shard in order."""
        for shard in shards:
            yield shard, render_shard(self.synth, manifest, shard, one_at_a_time=self.one_at_a_time,
                                      watch=self.watch, fatal=self.fatal)

    def close(self) -> None:
        """Nothing to release: the caller owns the synth."""


_worker_synth: list[Synth] = []  # the synth of a LocalPool worker process, opened once by its initializer


def _open_worker_synth(definition: SynthDefinition) -> None:
    """A LocalPool worker's initializer: open its own synth instance."""
    _worker_synth.append(open_synth(definition))


def _render_in_worker(manifest: Manifest, shard: int) -> tuple[int, Shard]:
    """A LocalPool task: shard number ``shard`` rendered by this worker's synth."""
    return shard, render_shard(_worker_synth[0], manifest, shard)


class LocalPool:
    """Shards rendered by ``workers`` processes of this machine (spawned, so a plugin starts clean in each), each
    with its own synth instance; at most two shards per worker are in flight, so an interruption loses little."""

    def __init__(self, definition: SynthDefinition, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_open_worker_synth, initargs=(definition,))

    def render(self, manifest: Manifest, shards: Sequence[int]) -> Iterator[tuple[int, Shard]]:
        """Render ``shards`` across the workers, yielding each shard as it is finished."""
        queue = list(shards)
        running: set[Future[tuple[int, Shard]]] = set()
        while queue or running:
            while queue and len(running) < 2 * self.workers:
                running.add(self._pool.submit(_render_in_worker, manifest, queue.pop(0)))
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()

    def close(self) -> None:
        """Stop the workers (the shards in flight are dropped; a resume renders them)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
