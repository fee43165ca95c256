"""The daemon's match session: one target, one match at a time in a worker thread, the best patch and an undo.

The session holds what the OSC commands act on: the target (audio, note, where it came from), the state (idle,
loading, recording, matching, stopping), the running match's step and distances, the current patch (what the
synth is set to), the best patch of the last match and the patch from before it, and for views what the agent
hears of the target and of the synth's latest sound. It knows no socket: the end of a load, a match or a
recording and a match's progress go out through callbacks, called from the worker thread, so the caller's thread
never waits on audio. Patches are saved by name into one patch folder. Every public method is thread-safe.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from synthmatch.agent import Mel, OnnxAgent
from synthmatch.audio_files import checked_recording, probe_audio_file, warm_up_decoder
from synthmatch.daemon.rig_contract import MAX_RECORD_S, ParameterSink
from synthmatch.daemon.session_values import (
    DEFAULT_STEPS,
    MAX_STEPS,
    DoneSink,
    ErrorSink,
    MatchOutcome,
    Params,
    ProgressSink,
    Recorder,
    SessionError,
    SessionSnapshot,
    SessionState,
    Target,
    TargetSink,
)
from synthmatch.definitions import SynthDefinition
from synthmatch.features import MEL_CEILING_DB, FeatureSettings, observe_mel
from synthmatch.match_methods import match_method
from synthmatch.matching import MatchProgress, MatchResult, Phase, match_with_agent, start_patch
from synthmatch.model_choice import SEARCH_WITHOUT_MODEL
from synthmatch.note_length import longest_render_samples
from synthmatch.patches import Patch, default_patch_dir, save_patch
from synthmatch.pitch import choose_note
from synthmatch.prepared_target import PreparedTarget, level_of, prepare_target, read_prepared_target
from synthmatch.synths import Synth, open_synth
from synthmatch.watched_search import SearchStopped, run_watched

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class _LoadRequest:
    """A target file to load, and whom to tell how it went."""

    path: str
    note: int | None
    on_done: TargetSink
    on_error: ErrorSink


class MatchSession:
    """The target, the state and the patches the daemon's commands act on; matches run in a worker thread."""

    def __init__(
        self, synth: Synth, agent: OnnxAgent | None, sink: ParameterSink | None = None,
        record: Recorder | None = None, candidates: int = 1, patch_dir: Path | None = None,
        model_dir: Path | None = None, synth_for: Callable[[SynthDefinition], Synth] = open_synth,
        level_by_volume: bool = True,
    ) -> None:
        """Match on ``synth`` with ``agent`` (from ``model_dir``; None: by search); send applied patches to ``sink``;
        record targets with ``record``.

        ``candidates`` > 1 makes every agent step search (:func:`synthmatch.matching.search_step`). Patches are
        saved in ``patch_dir`` (default: :func:`synthmatch.patches.default_patch_dir`). ``synth_for`` opens the
        synth holding a target's note as long as the target's is held (``synth``'s definition, its
        ``note_seconds`` changed); ``level_by_volume`` False measures the output level as a gain only (one render:
        a synth played live plays one note at a time).
        """
        self.synth = synth
        self._synth_for = synth_for
        self._held: Synth = synth
        self._level_by_volume = level_by_volume
        self.model_dir = model_dir
        self.default_method = "agent" if agent is not None else SEARCH_WITHOUT_MODEL
        """What a match runs unless told another method: the agent, or without one the search."""
        self._method = self.default_method
        self.patch_dir = default_patch_dir() if patch_dir is None else patch_dir
        self._candidates = candidates
        self.definition = synth.definition
        self._agent = agent
        self._sink = sink
        self._record = record
        self._lock = threading.Lock()
        self._state = SessionState.IDLE
        self._closed = False
        self._worker: threading.Thread | None = None
        self._target: Target | None = None
        self._load: _LoadRequest | None = None
        self._current = start_patch(synth, None)
        self._before: Params | None = None
        self._best: Params | None = None
        self._method_start = self._current
        """The patch the running match's method started from: the best until a step beats it."""
        self._step = 0
        self._phase: Phase | None = None
        self._max_steps = 0
        self._distance = math.nan
        self._best_distance = math.nan
        self._distance_start = math.nan
        self._gain_db = math.nan
        self._history: list[float] = []
        self._best_history: list[float] = []
        self._target_mel: Mel | None = None
        self._sound_mel: Mel | None = None
        warm_up_decoder()  # so the first target/load, in the worker, does not stall the OSC thread

    # -- the target --------------------------------------------------------------------------------------------

    def load_target(self, path: str, on_done: TargetSink, on_error: ErrorSink, note: int | None = None) -> None:
        """Load the target from an audio file in the worker thread; then ``on_done(target)`` or ``on_error(err)``.

        Its note comes from its pitch unless ``note`` is given. A load while another runs supersedes it: the
        earlier one's ``on_error`` gets a SessionError at once and its result is dropped.
        """
        if note is not None:
            choose_note(self.definition.note, None, note)  # checks the range now, not after the load
        request = _LoadRequest(path, note, on_done, on_error)
        with self._lock:
            superseded = self._load if self._state is SessionState.LOADING and not self._closed else None
            if superseded is None:
                self._start_worker_locked(SessionState.LOADING, "load a target", self._run_loads)
            self._load = request
        if superseded is not None:
            log.info("target/load of %s superseded by one of %s", superseded.path, path)
            superseded.on_error(SessionError(f"superseded by a later load (of {path}) before it was done"))

    def _run_loads(self) -> None:
        """The worker's loads: load the latest request until none newer came while it ran, then report it."""
        while True:
            with self._lock:
                request = self._load
            assert request is not None
            try:
                loaded: tuple[Target, Mel] | Exception = self._read_target(request.path, request.note)
            except Exception as err:
                loaded = err
            with self._lock:
                if self._load is not request:  # superseded while it ran, and already told so
                    continue
                self._load = None
                if not isinstance(loaded, Exception):
                    self._target, self._target_mel = loaded
                self._state = SessionState.IDLE
            break
        if isinstance(loaded, Exception):
            log.warning("loading the target %s failed: %s", request.path, loaded)
            request.on_error(loaded)
        else:
            self._log_target(loaded[0])
            request.on_done(loaded[0])

    def _read_target(self, path: str, note: int | None) -> tuple[Target, Mel]:
        """The target in an audio file, and how the agent hears it."""
        seconds = probe_audio_file(path).duration_s
        return self._heard_target(read_prepared_target(path, self.definition, note=note), path, seconds)

    def record_target(
        self, seconds: float, on_done: Callable[[Target], None], on_error: Callable[[Exception], None],
        note: int | None = None,
    ) -> None:
        """Record ``seconds`` of the live input as the target in the worker thread; then ``on_done`` or ``on_error``."""
        if self._record is None:
            raise SessionError(
                "no audio input is configured: this daemon renders its synth in-process; start it with a live "
                "synth (--render live, --audio-device DEV) to record targets, or load a file with target/load"
            )
        if not (math.isfinite(seconds) and 0.0 < seconds <= MAX_RECORD_S):
            raise ValueError(f"record length {seconds} s must be above 0 and at most {MAX_RECORD_S:g} s")
        if note is not None:
            choose_note(self.definition.note, None, note)  # checks the range now, not after the recording
        record = self._record

        def run() -> None:
            try:
                samples = longest_render_samples(self.definition)
                audio = checked_recording(record(seconds), self.synth.sample_rate, samples)
                target = self._set_target(audio, "recorded", seconds, note)
            except Exception as err:
                log.warning("recording the target failed: %s", err)
                self._finish(SessionState.IDLE)
                on_error(err)
            else:
                self._finish(SessionState.IDLE)
                on_done(target)

        self._start_worker(SessionState.RECORDING, "record a target", run)

    def _set_target(self, audio: npt.NDArray[np.float32], source: str, seconds: float, note: int | None) -> Target:
        target, target_mel = self._heard_target(prepare_target(self.definition, audio, note=note), source, seconds)
        with self._lock:
            self._target, self._target_mel = target, target_mel
        self._log_target(target)
        return target

    def _heard_target(self, prepared: PreparedTarget, source: str, seconds: float) -> tuple[Target, Mel]:
        """The target of a prepared sound, and how the agent hears it."""
        return Target(prepared, source, seconds), self._observe(prepared.audio[None])

    def _observe(self, audio: npt.NDArray[np.float32]) -> Mel:
        """How the agent hears ``audio[1, N]`` (without an agent: the standard front end) -> [n_mels, frames]."""
        if self._agent is not None:
            return self._agent.observe(audio)[0]
        return observe_mel(audio, FeatureSettings(sample_rate=self.synth.sample_rate), MEL_CEILING_DB)[0]

    @staticmethod
    def _log_target(target: Target) -> None:
        log.info("target %s: %.2f s, matched at MIDI note %d held %.2f s", target.source, target.seconds,
                 target.note, target.note_seconds)

    # -- the match ---------------------------------------------------------------------------------------------

    def start_match(
        self, max_steps: int | None, on_progress: ProgressSink, on_done: DoneSink, method: str | None = None
    ) -> int:
        """Start matching the target in the worker thread with ``method`` (default :attr:`default_method`); returns
        the steps it will take (a search's steps are renders, from the default patch).

        ``on_progress`` is called after every step, ``on_done`` once at the end (stopped, finished or failed);
        the best patch is then applied and becomes the current one.
        """
        steps = DEFAULT_STEPS if max_steps is None else max_steps
        if not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"max_steps {steps} must be 1..{MAX_STEPS} (default {DEFAULT_STEPS})")
        method = self.default_method if method is None else method
        if match_method(method).network is not None and self._agent is None:
            raise SessionError(f"method {method} needs a model and this daemon has none for {self.definition.name}; "
                               f"use a search (random, cmaes) or start it with --model DIR")
        with self._lock:
            target, start = self._target, self._current
        if target is None:
            self._check_idle("start a match")  # a first target still loading says so
            raise SessionError("no target: load one with /synthmatch/target/load <path> (or record one) first")

        by_agent = method == "agent" and self._agent is not None
        method_start = start if by_agent else start_patch(self.synth, None)  # a search starts from the default

        def run() -> None:
            outcome = self._run_match(target, start, steps, on_progress, method)
            on_done(outcome)

        with self._lock:  # one hold: a save never pairs this match's best with the previous match's method
            self._start_worker_locked(SessionState.MATCHING, "start a match", run, match_steps=steps)
            self._method, self._method_start = method, method_start
        return steps

    def _run_match(
        self, target: Target, start: Params, steps: int, on_progress: ProgressSink, method: str
    ) -> MatchOutcome:
        """The worker's match: run it, keep the best patch whatever happens, set its output level, apply it, and
        say how it ended."""
        result: MatchResult | None = None
        error: Exception | None = None
        gain_db = math.nan
        def on_step(progress: MatchProgress) -> None:
            self._on_step(progress, on_progress)

        try:
            synth = self._held_synth(target)
            if method == "agent" and self._agent is not None:
                result = match_with_agent(
                    synth, self._agent, target.audio, target.note, steps, start_params=start, on_step=on_step,
                    should_stop=self._stop_requested, candidates=self._candidates,
                )
            else:
                result = run_watched(method, synth, target.audio, target.note, steps, np.random.default_rng(),
                                     self.model_dir, on_step, self._stop_requested)
            level = level_of(synth, result.params, target.prepared, self._level_by_volume)
            result.params, gain_db = level.params, level.gain_db
        except SearchStopped:  # stopped before the search's first render: nothing measured, the start stays
            log.info("the match was stopped before its first render")
        except Exception as err:
            log.warning("the match failed after %d steps: %s", self._step, err)
            error = err
        with self._lock:
            stopped = self._state is SessionState.STOPPING
            if result is not None:
                self._best, self._best_distance = result.params, result.distance
                self._gain_db = gain_db
            best = self._current = start if self._best is None else self._best
            outcome_steps, best_distance, outcome_gain_db = self._step, self._best_distance, self._gain_db
        try:
            if self._sink is not None:
                self._sink.send(best)
        except Exception as err:
            log.warning("applying the best patch failed: %s", err)
            error = error or err
        self._finish(SessionState.IDLE)
        return MatchOutcome(
            steps=outcome_steps, distance_start=math.nan if result is None else result.distance_start,
            best_distance=best_distance, stopped=stopped, error=error, note_seconds=target.note_seconds,
            gain_db=outcome_gain_db,
        )

    def _held_synth(self, target: Target) -> Synth:
        """The synth holding the target's note as long as the target's is held (opened again only when that changes)."""
        if self._held.definition != target.prepared.definition:
            self._held = self._synth_for(target.prepared.definition)
        return self._held

    def _on_step(self, progress: MatchProgress, on_progress: ProgressSink) -> None:
        """Record one step (and what the agent heard of its sound, for views), send a new best patch out, report it.

        The best patch is paired with the best distance from the first step on: the step's patch when it
        improved, else the patch the method started from (a search starts from the default patch).
        """
        with self._lock:
            self._sound_mel = progress.mel
            self._step, self._distance, self._phase = progress.step, progress.distance, progress.phase
            self._history.append(progress.distance)
            self._best_history.append(progress.best_distance)
            self._best_distance = progress.best_distance  # the match loop keeps the best; the session echoes it
            self._distance_start = progress.distance_start
            if progress.improved:
                self._best = progress.params
            elif self._best is None:
                self._best = self._method_start
        if progress.improved and self._sink is not None:
            self._sink.send(progress.params)  # the sink sends only what changed
        on_progress(progress)

    def _stop_requested(self) -> bool:
        with self._lock:
            return self._state is SessionState.STOPPING

    def stop_match(self) -> int:
        """Ask the running match to end after its current step, keeping the best patch; returns the step reached."""
        with self._lock:
            if self._state is not SessionState.MATCHING:
                raise SessionError(f"no match is running (the session is {self._state}); nothing to stop")
            self._state = SessionState.STOPPING
            return self._step

    # -- the patches -------------------------------------------------------------------------------------------

    def undo(self) -> None:
        """Restore the patch from before the last match, as the current patch and on the synth."""
        with self._lock:
            if self._state is not SessionState.IDLE:
                raise SessionError(f"cannot undo while {self._state}; stop the match first")
            if self._before is None:
                raise SessionError("nothing to undo: no match has changed the patch since the last undo")
            self._current, self._before = self._before, None
            current = self._current
        if self._sink is not None:
            self._sink.send(current)

    def save_patch(self, name: str) -> tuple[Patch, Path]:
        """Write the best patch of the running or last match as ``name`` in the patch folder, atomically.

        Returns the patch and the path written; ``name`` must be bare (see :func:`synthmatch.patches.patch_path`).
        """
        with self._lock:
            best, distance, target, method = self._best, self._best_distance, self._target, self._method
            gain_db = None if math.isnan(self._gain_db) else self._gain_db  # measured when a match ends
        if best is None or target is None:
            raise SessionError("no best patch yet: run a match (/synthmatch/match/start) before saving")
        patch = Patch.from_params(self.definition, best, distance=distance, note=target.note, method=method,
                                  target=target.source, gain_db=gain_db, note_seconds=target.note_seconds)
        path = save_patch(patch, self.patch_dir, name)
        log.info("patch written to %s (distance %.4f)", path, distance)
        return patch, path

    # -- state and threads -------------------------------------------------------------------------------------

    def snapshot(self) -> SessionSnapshot:
        """A consistent copy of the state, for status replies and views; never blocks for long."""
        with self._lock:
            return SessionSnapshot(
                state=self._state, step=self._step, max_steps=self._max_steps, distance=self._distance,
                best_distance=self._best_distance, distance_start=self._distance_start,
                current_params=self._current.copy(),
                best_params=None if self._best is None else self._best.copy(), history=tuple(self._history),
                best_history=tuple(self._best_history), phase=self._phase,
                target=None if self._target is None else self._target.source,
                note=None if self._target is None else self._target.note,
                note_seconds=self.definition.note.note_seconds if self._target is None else self._target.note_seconds,
                gain_db=self._gain_db,
                target_mel=self._target_mel, sound_mel=self._sound_mel,  # never changed in place: no copy needed
                target_audio=None if self._target is None else self._target.audio,
            )

    def close(self, timeout: float = MAX_RECORD_S + 5.0) -> None:
        """Stop a running match (keeping its best patch), wait for the worker, refuse further work."""
        with self._lock:
            self._closed = True
            if self._state is SessionState.MATCHING:
                self._state = SessionState.STOPPING
            worker = self._worker
        if worker is not None:
            worker.join(timeout)
            if worker.is_alive():
                log.warning("the worker thread did not end within %.0f s", timeout)

    def _check_idle(self, doing: str) -> None:
        with self._lock:
            self._check_idle_locked(doing)

    def _check_idle_locked(self, doing: str) -> None:
        if self._closed:
            raise SessionError(f"cannot {doing}: the daemon is shutting down")
        if self._state is not SessionState.IDLE:
            hints = {SessionState.MATCHING: "stop it with /synthmatch/match/stop",
                     SessionState.LOADING: "wait for /synthmatch/target/loaded"}
            raise SessionError(f"cannot {doing} while {self._state}; {hints.get(self._state, 'wait for it')}")

    def _start_worker(self, state: SessionState, doing: str, run: Callable[[], None], match_steps: int = 0) -> None:
        """Enter ``state`` and run ``run`` in a new worker thread, if the session is idle."""
        with self._lock:
            self._start_worker_locked(state, doing, run, match_steps)

    def _start_worker_locked(
        self, state: SessionState, doing: str, run: Callable[[], None], match_steps: int = 0
    ) -> None:
        """:meth:`_start_worker`, the lock already held."""
        self._check_idle_locked(doing)
        self._state = state
        if state is SessionState.MATCHING:
            self._before, self._best = self._current, None  # no best until the first step measures one
            self._step, self._max_steps, self._history, self._best_history = 0, match_steps, [], []
            self._phase = None
            self._sound_mel = None
            self._distance = self._best_distance = self._distance_start = self._gain_db = math.nan
        self._worker = threading.Thread(target=run, name=f"synthmatch-{state}", daemon=True)
        self._worker.start()

    def _finish(self, state: SessionState) -> None:
        with self._lock:
            self._state = state

