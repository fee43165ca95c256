"""Run calls from other threads on the main thread: VST3 plugins (JUCE, through pedalboard) render only there.

The daemon's matches run in a worker thread so that OSC keeps being served; :class:`MainThreadSynth` hands each
of their renders to the main thread, which serves :meth:`MainThreadCalls.serve_until` while the daemon runs.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from synthmatch.patch_exports import preset_bytes
from synthmatch.synths import MidiValues, Synth, WrappedSynth

T = TypeVar("T")

#: Seconds the main thread waits for a call before it looks at the stop event again.
POLL_S = 0.05


class MainThreadClosed(RuntimeError):
    """The main thread no longer runs calls (the daemon is shutting down)."""


class MainThreadCalls:
    """A queue of calls that the main thread runs, in order, while it serves :meth:`serve_until`."""

    def __init__(self) -> None:
        self._calls: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]] = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()  # orders call()'s check-and-put against close()

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` run on the main thread (at once when called there); its result or its exception."""
        if threading.current_thread() is threading.main_thread():
            return function(*args)
        done: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise MainThreadClosed("the daemon is shutting down: nothing more runs on its main thread")
            self._calls.put((function, args, done))
        return done.result()

    def serve_until(self, stop: threading.Event) -> None:
        """Run queued calls on this (the main) thread until ``stop`` is set."""
        while not stop.is_set():
            try:
                function, args, done = self._calls.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if done.set_running_or_notify_cancel():
                try:
                    done.set_result(function(*args))
                except BaseException as err:  # handed to the caller, which decides
                    done.set_exception(err)

    def close(self) -> None:
        """Refuse further calls and fail the queued ones, so no thread waits for a main thread that has moved on."""
        with self._lock:
            self._closed = True
        while True:
            try:
                _, _, done = self._calls.get_nowait()
            except queue.Empty:
                return
            if done.set_running_or_notify_cancel():
                done.set_exception(MainThreadClosed("the daemon is shutting down: the render was not run"))


class MainThreadSynth(WrappedSynth):
    """``synth``, rendering on the main thread through ``calls`` whichever thread asks."""

    def __init__(self, synth: Synth, calls: MainThreadCalls) -> None:
        super().__init__(synth)
        self._calls = calls

    def render(
        self, params: npt.NDArray[np.floating], note: MidiValues | None = None, velocity: MidiValues | None = None
    ) -> npt.NDArray[np.float32]:
        """The wrapped synth's render, run on the main thread."""
        return self._calls.call(self.synth.render, params, note, velocity)

    def preset_data(self, params: npt.ArrayLike) -> bytes:
        """The wrapped synth's .vstpreset of ``params[P]`` (:func:`synthmatch.patch_exports.preset_bytes`), read
        on the main thread, where a VST3 plugin's instance lives."""
        return self._calls.call(preset_bytes, self.synth, params)
