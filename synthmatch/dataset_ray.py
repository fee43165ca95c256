"""Rendering a data set on a Ray cluster (``synthmatch dataset --ray ADDRESS``): one actor per worker, each owning
its synth instance (a VST3 plugin loaded once), shards sent to whichever actor is free, results back to the driver.

Ray is an optional dependency (``pip install 'synthmatch[ray]'``), imported only here and only when asked. An
address that does not answer is found by a plain TCP connection with a short timeout before Ray is asked to join,
so a wrong address gives a one-line error in seconds instead of Ray's long reconnection loop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from synthmatch.dataset_render import render_shard
from synthmatch.datasets import Manifest, Shard
from synthmatch.definitions import SynthDefinition
from synthmatch.synths import Synth, open_synth

#: Seconds to wait for the cluster's address to accept a connection.
CONNECT_TIMEOUT_S = 3.0
#: Seconds to wait for Ray to join the cluster once its address answers.
JOIN_TIMEOUT_S = 10.0
#: Shards in flight per actor: one rendering, one waiting, so that no actor idles while the driver writes.
IN_FLIGHT_PER_ACTOR = 2


class RayUnavailable(RuntimeError):
    """Ray is not installed, or no cluster answers at the address; the message says which and the fix."""


def _import_ray() -> Any:
    """The ``ray`` module; RayUnavailable names the extra to install when it is missing."""
    try:
        import ray
    except ModuleNotFoundError:
        raise RayUnavailable("--ray needs Ray: pip install 'synthmatch[ray]'") from None
    return ray


def host_and_port(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (optionally ``ray://HOST:PORT``) -> ``(host, port)``; RayUnavailable for anything else."""
    bare = address.removeprefix("ray://")
    host, _, port = bare.rpartition(":")
    if not host or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise RayUnavailable(f"--ray {address!r} is not HOST:PORT, e.g. 127.0.0.1:6379 (the head's `ray start "
                             "--head --port` address)")
    return host, int(port)


def check_answers(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Return when something accepts a TCP connection at ``address``; RayUnavailable within ``timeout_s`` if not."""
    host, port = host_and_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except OSError as err:
        reason = "no answer" if isinstance(err, TimeoutError) else (err.strerror or str(err)).lower()
        raise RayUnavailable(
            f"no Ray cluster answers at {address} ({reason} within {timeout_s:g} s); start one with `ray start "
            f"--head --port {port}` on that machine, or give the address that `ray start` printed"
        ) from None


def join_cluster(address: str, timeout_s: float = JOIN_TIMEOUT_S) -> Any:
    """Connect this process to the Ray cluster at ``address``; returns the ``ray`` module.

    Ray retries a head that does not speak its protocol for minutes, so the joining runs in a thread, given up
    after ``timeout_s`` with a RayUnavailable. A loopback address keeps Ray on loopback: Ray otherwise swaps
    127.0.0.1 for the machine's LAN address (its RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 setting turns that off).
    """
    if host_and_port(address)[0] in ("127.0.0.1", "localhost", "::1"):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read when ray is imported
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # not its retries' warnings: our error says it once
    ray = _import_ray()
    failed: list[BaseException] = []

    def join() -> None:
        """ray.init, its error kept for the caller."""
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        except Exception as err:  # noqa: BLE001 - handed to the caller below
            failed.append(err)

    thread = threading.Thread(target=join, name="ray-join", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise RayUnavailable(f"something answers at {address}, but no Ray cluster joined within {timeout_s:g} s; "
                             "give the address that `ray start --head` printed (HOST:PORT of the head)")
    if failed:
        raise RayUnavailable(f"cannot join the Ray cluster at {address}: {failed[0]}")
    return ray


class SynthWorker:
    """A Ray actor's state: its own synth instance, opened once; renders the shards it is given."""

    def __init__(self, definition: SynthDefinition) -> None:
        self.synth: Synth = open_synth(definition)

    def render(self, manifest: Manifest, shard: int) -> tuple[int, Shard]:
        """Shard number ``shard`` of ``manifest``, rendered by this actor's synth."""
        return shard, render_shard(self.synth, manifest, shard)


class RayRenderer:
    """Shards rendered by ``workers`` Ray actors (default: one per CPU of the cluster) on the cluster at ``address``."""

    def __init__(self, address: str, definition: SynthDefinition, workers: int | None = None) -> None:
        check_answers(address)
        self._ray = ray = join_cluster(address)
        try:
            cpus = int(ray.cluster_resources().get("CPU", 0))
            if workers is not None and workers > cpus:  # the actors beyond would wait for a CPU for ever
                raise RayUnavailable(f"--workers {workers} asks for more actors than the cluster at {address} has "
                                     f"CPUs ({cpus}); give at most {cpus}, or add nodes")
            count = workers or max(1, cpus)
            actor = ray.remote(num_cpus=1)(SynthWorker)
            self._actors = [actor.remote(definition) for _ in range(count)]
        except BaseException:
            ray.shutdown()
            raise

    def render(self, manifest: Manifest, shards: Sequence[int]) -> Iterator[tuple[int, Shard]]:
        """Render ``shards`` across the actors, yielding each as it is finished; a worker's error says which."""
        ray, queue = self._ray, list(shards)
        running: dict[Any, Any] = {}  # object ref -> the actor rendering it
        for actor in self._actors * IN_FLIGHT_PER_ACTOR:
            if queue:
                running[actor.render.remote(manifest, queue.pop(0))] = actor
        while running:
            (ref,), _ = ray.wait(list(running), num_returns=1)
            actor = running.pop(ref)
            try:
                result = ray.get(ref)
            except (ray.exceptions.RayTaskError, ray.exceptions.RayActorError) as err:
                cause = getattr(err, "cause", None) or err
                raise RayUnavailable(f"a Ray worker failed: {type(cause).__name__}: {cause}") from None
            if queue:
                running[actor.render.remote(manifest, queue.pop(0))] = actor
            yield result

    def close(self) -> None:
        """Drop the actors (their synths go with them) and leave the cluster; the cluster keeps running."""
        for actor in self._actors:
            self._ray.kill(actor)
        self._ray.shutdown()
