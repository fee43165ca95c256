"""Calls from worker threads run on the main thread, in order, until the daemon shuts down."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from synthmatch.daemon.main_thread import MainThreadCalls, MainThreadClosed, MainThreadSynth
from synthmatch.synths import Synth, open_synth


def in_worker(function: object) -> dict[str, object]:
    """Run ``function()`` in a new thread; its result or exception in a dict (after the thread ends)."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = function()  # type: ignore[operator]
        except Exception as err:
            outcome["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    outcome["thread"] = thread
    return outcome


def serve_while(calls: MainThreadCalls, outcome: dict[str, object]) -> None:
    """Serve calls on this (the main) thread until the worker in ``outcome`` has finished."""
    stop = threading.Event()
    watcher = threading.Thread(target=lambda: (outcome["thread"].join(), stop.set()))  # type: ignore[union-attr]
    watcher.start()
    calls.serve_until(stop)
    watcher.join()


def test_a_workers_call_runs_on_the_main_thread_and_returns_its_result_or_raises_its_error() -> None:
    calls = MainThreadCalls()
    ran_on = in_worker(lambda: calls.call(lambda: threading.current_thread().name))
    serve_while(calls, ran_on)
    assert ran_on["result"] == threading.main_thread().name
    failing = in_worker(lambda: calls.call(int, "not a number"))
    serve_while(calls, failing)
    assert isinstance(failing["error"], ValueError)
    assert calls.call(lambda: 7) == 7  # on the main thread itself: at once


def test_after_close_a_waiting_call_fails_and_new_calls_are_refused() -> None:
    calls = MainThreadCalls()
    queued = in_worker(lambda: calls.call(lambda: "never run"))
    while calls._calls.empty():  # the worker's call is in the queue, nobody serves it
        threading.Event().wait(0.001)
    calls.close()
    queued["thread"].join(5)  # type: ignore[union-attr]
    assert isinstance(queued["error"], MainThreadClosed)
    refused = in_worker(lambda: calls.call(lambda: "too late"))
    refused["thread"].join(5)  # type: ignore[union-attr]
    assert isinstance(refused["error"], MainThreadClosed)


def test_the_synth_wrapper_renders_what_the_synth_renders() -> None:
    synth: Synth = open_synth("builtin")
    calls = MainThreadCalls()
    wrapped = MainThreadSynth(synth, calls)
    patch = np.full((1, len(synth.parameters)), 0.5)
    rendered = in_worker(lambda: wrapped.render(patch, 48))
    serve_while(calls, rendered)
    np.testing.assert_array_equal(rendered["result"], synth.render(patch, 48))
    assert wrapped.sample_rate == synth.sample_rate and wrapped.parameters == synth.parameters
    with pytest.raises(ValueError):
        wrapped.render(np.full((1, 3), 0.5))  # the synth's own checks still apply
