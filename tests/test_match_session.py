"""The match session: one match at a time in a worker, stop keeps the best patch, failures keep it too, undo."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from pedalboard.io import AudioFile

from synthmatch.agent import OnnxAgent, default_model_dir
from synthmatch.daemon import match_session
from synthmatch.daemon.match_session import MatchSession
from synthmatch.daemon.session_values import MatchOutcome, SessionError, SessionState, Target
from synthmatch.definitions import SynthDefinition
from synthmatch.distances import multires_stft_distance
from synthmatch.matching import MatchProgress, match_with_agent, start_patch
from synthmatch.params import quantise_all
from synthmatch.patches import read_patch
from synthmatch.prepared_target import read_prepared_target
from synthmatch.synths import Synth, open_synth

NOTE = 50


class RecordingSink:
    """A parameter sink that keeps what it was sent (the daemon's transports are tested with real ports elsewhere)."""

    def __init__(self) -> None:
        self.sent: list[npt.NDArray[np.float64]] = []

    def send(self, params: npt.NDArray[np.float64]) -> int:
        self.sent.append(params.copy())
        return 1

    def close(self) -> None:
        pass


class FailingSynth:
    """The built-in synth until its ``fail_after``-th render, then an error, as when an audio device vanishes."""

    def __init__(self, synth: Synth, fail_after: int) -> None:
        self._synth, self._left = synth, fail_after
        self.definition = synth.definition
        self.parameters = synth.parameters
        self.sample_rate = synth.sample_rate

    def render(self, params: npt.NDArray[np.floating], note: int | None = None, velocity: int | None = None
               ) -> npt.NDArray[np.float32]:
        self._left -= 1
        if self._left < 0:
            raise RuntimeError("the audio device vanished")
        return self._synth.render(params, note, velocity)


class Ends:
    """Collects a worker's progress and its end, and lets a test wait for the end."""

    def __init__(self) -> None:
        self.progress: list[MatchProgress] = []
        self.outcome: MatchOutcome | None = None
        self.target: Target | None = None
        self.error: Exception | None = None
        self.finished = threading.Event()

    def done(self, outcome: MatchOutcome) -> None:
        self.outcome = outcome
        self.finished.set()

    def got_target(self, target: Target) -> None:
        self.target = target
        self.finished.set()

    def failed(self, err: Exception) -> None:
        self.error = err
        self.finished.set()

    def wait(self) -> None:
        assert self.finished.wait(30), "the worker did not finish"


@pytest.fixture(scope="module")
def synth() -> Synth:
    return open_synth("builtin")


@pytest.fixture(scope="module")
def agent(synth: Synth) -> OnnxAgent:
    return OnnxAgent.load(default_model_dir(synth.definition), synth.definition)


@pytest.fixture(scope="module")
def target_audio(synth: Synth) -> npt.NDArray[np.float32]:
    patch = quantise_all(synth.definition, np.random.default_rng(3).random(len(synth.parameters)))
    return synth.render(patch[None], NOTE)[0]


@pytest.fixture(scope="module")
def target_wav(tmp_path_factory: pytest.TempPathFactory, synth: Synth, target_audio: np.ndarray) -> Path:
    path = tmp_path_factory.mktemp("target") / "target.wav"
    with AudioFile(str(path), "w", samplerate=synth.sample_rate, num_channels=1) as file:
        file.write(target_audio[None])
    return path


def load(session: MatchSession, path: Path, note: int | None = None) -> Target:
    """Load a target file in the session's worker and wait for it; its error if it fails."""
    ends = Ends()
    session.load_target(str(path), ends.got_target, ends.failed, note)
    ends.wait()
    if ends.error is not None:
        raise ends.error
    assert ends.target is not None
    return ends.target


def run_match(session: MatchSession, steps: int | None = None) -> Ends:
    ends = Ends()
    session.start_match(steps, ends.progress.append, ends.done)
    ends.wait()
    return ends


def test_a_match_reports_every_step_and_applies_its_best_patch(
    synth: Synth, agent: OnnxAgent, target_wav: Path
) -> None:
    sink = RecordingSink()
    session = MatchSession(synth, agent, sink)
    target = load(session, target_wav, NOTE)
    assert target.note == NOTE and target.seconds == pytest.approx(1.0) and target.source == str(target_wav)
    before = session.snapshot().current_params
    ends = run_match(session, 16)
    outcome = ends.outcome
    assert outcome is not None and outcome.error is None and not outcome.stopped
    assert [p.step for p in ends.progress] == list(range(1, 17)) and outcome.steps == 16
    assert outcome.best_distance < outcome.distance_start
    now = session.snapshot()
    assert now.state is SessionState.IDLE and now.step == 16 and now.max_steps == 16
    assert now.best_distance == outcome.best_distance == min(p.best_distance for p in ends.progress)
    assert now.history == tuple(p.distance for p in ends.progress)
    assert now.best_params is not None
    np.testing.assert_array_equal(now.current_params, now.best_params)
    rendered = open_synth(target.prepared.definition).render(now.best_params[None], NOTE)  # the target's note length
    assert multires_stft_distance(rendered, target.audio[None])[0] == pytest.approx(outcome.best_distance, rel=1e-6)
    np.testing.assert_array_equal(sink.sent[-1], now.best_params)  # the best patch went out last
    assert len(sink.sent) >= 2  # each new best on the way, then the applied one
    session.undo()
    np.testing.assert_array_equal(session.snapshot().current_params, before)
    np.testing.assert_array_equal(sink.sent[-1], before)
    with pytest.raises(SessionError, match="nothing to undo"):
        session.undo()


def test_the_note_comes_from_the_targets_pitch(synth: Synth, agent: OnnxAgent, tmp_path: Path) -> None:
    path = tmp_path / "a3.wav"
    with AudioFile(str(path), "w", samplerate=synth.sample_rate, num_channels=1) as file:
        file.write(synth.render(np.array([synth.definition.defaults_normalised()]), note=57))
    session = MatchSession(synth, agent)
    assert load(session, path).note == 57
    assert load(session, path, 60).note == 60 and session.snapshot().note == 60


def test_stop_ends_the_match_early_and_keeps_the_best_patch(synth: Synth, agent: OnnxAgent, target_wav: Path) -> None:
    session = MatchSession(synth, agent)
    load(session, target_wav, NOTE)
    ends = Ends()

    def stop_at_three(progress: MatchProgress) -> None:
        ends.progress.append(progress)
        if progress.step == 3:
            assert session.snapshot().state is SessionState.MATCHING
            assert session.stop_match() == 3
            assert session.snapshot().state is SessionState.STOPPING

    session.start_match(4096, stop_at_three, ends.done)
    ends.wait()
    assert ends.outcome is not None and ends.outcome.stopped and ends.outcome.steps == 3
    now = session.snapshot()
    assert now.state is SessionState.IDLE and now.best_distance == ends.progress[-1].best_distance
    assert now.best_params is not None
    np.testing.assert_array_equal(now.current_params, now.best_params)


def test_a_search_stopped_before_its_first_render_ends_done_not_failed(
    synth: Synth, target_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = MatchSession(synth, None)  # no model: the search
    load(session, target_wav, NOTE)
    before = session.snapshot().current_params
    stopped = threading.Event()
    real_run_watched = match_session.run_watched

    def after_the_stop(*args: object, **kwargs: object) -> object:
        assert stopped.wait(10)
        return real_run_watched(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(match_session, "run_watched", after_the_stop)
    ends = Ends()
    session.start_match(32, ends.progress.append, ends.done)
    session.stop_match()
    stopped.set()
    ends.wait()
    assert ends.outcome is not None and ends.outcome.error is None and ends.outcome.stopped
    assert ends.outcome.steps == 0 and not ends.progress
    np.testing.assert_array_equal(session.snapshot().current_params, before)  # the start patch stays


def test_one_match_at_a_time_and_clear_refusals(synth: Synth, agent: OnnxAgent, target_wav: Path) -> None:
    session = MatchSession(synth, agent)
    ends = Ends()
    with pytest.raises(SessionError, match="no target"):
        session.start_match(8, ends.progress.append, ends.done)
    with pytest.raises(SessionError, match="no match is running"):
        session.stop_match()
    with pytest.raises(SessionError, match="no best patch yet"):
        session.save_patch("never")
    with pytest.raises(SessionError, match="nothing to undo"):
        session.undo()
    load(session, target_wav, NOTE)
    with pytest.raises(ValueError, match="max_steps 0 must be"):
        session.start_match(0, ends.progress.append, ends.done)
    release = threading.Event()
    session.start_match(64, lambda progress: release.wait(10), ends.done)
    try:
        with pytest.raises(SessionError, match="cannot start a match while matching; stop it"):
            session.start_match(8, ends.progress.append, ends.done)
        with pytest.raises(SessionError, match="cannot load a target while matching"):
            session.load_target("/tmp/any.wav", print, print)
        with pytest.raises(SessionError, match="cannot undo while matching"):
            session.undo()
    finally:
        session.stop_match()
        release.set()
    ends.wait()
    assert ends.outcome is not None and ends.outcome.stopped


def test_a_failing_match_keeps_its_best_patch(synth: Synth, agent: OnnxAgent, target_wav: Path) -> None:
    def failing(definition: SynthDefinition) -> Synth:  # the start and 5 steps, then the device fails
        return FailingSynth(open_synth(definition), fail_after=6)

    session = MatchSession(synth, agent, synth_for=failing)
    target = load(session, target_wav, NOTE)
    ends = run_match(session, 32)
    outcome = ends.outcome
    assert outcome is not None and isinstance(outcome.error, RuntimeError) and outcome.steps == 5
    now = session.snapshot()
    assert now.state is SessionState.IDLE and now.best_params is not None
    assert now.best_distance == min(p.best_distance for p in ends.progress)
    rendered = open_synth(target.prepared.definition).render(now.best_params[None], NOTE)
    assert multires_stft_distance(rendered, target.audio[None])[0] == pytest.approx(now.best_distance, rel=1e-6)
    np.testing.assert_array_equal(now.current_params, now.best_params)


def test_close_stops_a_running_match(synth: Synth, agent: OnnxAgent, target_wav: Path) -> None:
    session = MatchSession(synth, agent)
    load(session, target_wav, NOTE)
    ends = Ends()
    started = threading.Event()
    session.start_match(4096, lambda progress: started.set(), ends.done)
    assert started.wait(10)
    session.close()
    assert ends.finished.is_set() and ends.outcome is not None and ends.outcome.stopped
    with pytest.raises(SessionError, match="shutting down"):
        session.start_match(8, ends.progress.append, ends.done)


def test_a_recorded_target_is_aligned_and_pitched(synth: Synth, agent: OnnxAgent, target_audio: np.ndarray) -> None:
    lead = np.zeros(synth.sample_rate // 4, dtype=np.float32)  # a quarter second before the sound starts
    session = MatchSession(synth, agent, record=lambda seconds: np.concatenate([lead, target_audio]))
    ends = Ends()
    session.record_target(1.25, ends.got_target, ends.failed)
    assert session.snapshot().state in (SessionState.RECORDING, SessionState.IDLE)
    ends.wait()
    assert ends.error is None and ends.target is not None and ends.target.source == "recorded"
    assert ends.target.audio.shape == target_audio.shape and ends.target.seconds == 1.25
    assert np.argmax(np.abs(ends.target.audio) > 0) < synth.sample_rate // 100  # the lead is cut off
    assert session.snapshot().state is SessionState.IDLE and session.snapshot().target == "recorded"


def test_recording_needs_an_input_and_a_sound(synth: Synth, agent: OnnxAgent) -> None:
    with pytest.raises(SessionError, match="no audio input is configured"):
        MatchSession(synth, agent).record_target(1.0, print, print)
    session = MatchSession(synth, agent, record=lambda seconds: np.zeros(int(seconds * 16000), np.float32))
    with pytest.raises(ValueError, match="record length 0.0 s must be above 0"):
        session.record_target(0.0, print, print)
    ends = Ends()
    session.record_target(0.5, ends.got_target, ends.failed)
    ends.wait()
    assert ends.target is None and isinstance(ends.error, ValueError) and "silent" in str(ends.error)
    assert session.snapshot().state is SessionState.IDLE and session.snapshot().target is None


def test_save_writes_the_best_patch(synth: Synth, agent: OnnxAgent, target_wav: Path, tmp_path: Path) -> None:
    from synthmatch.patches import read_patch

    session = MatchSession(synth, agent, patch_dir=tmp_path / "patches")
    load(session, target_wav, NOTE)
    ends = run_match(session, 4)
    patch, path = session.save_patch("best")
    assert path == tmp_path / "patches" / "best.json"
    saved = read_patch(path)
    assert ends.outcome is not None and saved.distance == pytest.approx(ends.outcome.best_distance)
    assert saved.target == str(target_wav) and saved.note == NOTE and saved.synth == "builtin"
    assert saved.normalised == patch.normalised
    assert not math.isnan(saved.distance)


def test_match_with_agent_stops_when_asked(synth: Synth, agent: OnnxAgent, target_audio: np.ndarray) -> None:
    seen: list[int] = []
    result = match_with_agent(synth, agent, target_audio, NOTE, 10, on_step=lambda p: seen.append(p.step),
                              should_stop=lambda: len(seen) >= 4)
    assert seen == [1, 2, 3, 4] and result.steps == 4 and result.renders == 5 and len(result.history) == 4


class SlowAgent:
    """The real agent, whose first ``observe`` (how a loaded target is heard) waits until the test releases it."""

    def __init__(self, agent: OnnxAgent) -> None:
        self._agent = agent
        self.release = threading.Event()
        self.entered = threading.Event()

    def observe(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        self.entered.set()
        assert self.release.wait(30)
        return self._agent.observe(audio)

    def __getattr__(self, name: str) -> object:
        return getattr(self._agent, name)


def test_a_load_runs_in_the_worker_and_a_later_one_supersedes_it(
    synth: Synth, agent: OnnxAgent, target_wav: Path, tmp_path: Path
) -> None:
    slow = SlowAgent(agent)
    session = MatchSession(synth, slow)  # type: ignore[arg-type]
    first, second, third = Ends(), Ends(), Ends()
    session.load_target(str(target_wav), first.got_target, first.failed, NOTE)  # returns before the load is done
    assert slow.entered.wait(10) and session.snapshot().state is SessionState.LOADING
    with pytest.raises(SessionError, match="cannot start a match while loading; wait for /synthmatch/target/loaded"):
        session.start_match(8, print, print)
    session.load_target(str(tmp_path / "missing.wav"), second.got_target, second.failed)
    session.load_target(str(target_wav), third.got_target, third.failed, NOTE + 2)
    for superseded in (first, second):  # told at once, while the first load still runs
        assert superseded.finished.is_set() and superseded.target is None
        assert isinstance(superseded.error, SessionError) and "superseded by a later load" in str(superseded.error)
    slow.release.set()
    third.wait()
    assert third.error is None and third.target is not None and third.target.note == NOTE + 2
    now = session.snapshot()
    assert now.state is SessionState.IDLE and now.note == NOTE + 2 and now.target == str(target_wav)


def test_a_failed_load_reports_its_error_and_keeps_the_old_target(
    synth: Synth, agent: OnnxAgent, target_wav: Path, tmp_path: Path
) -> None:
    session = MatchSession(synth, agent)
    load(session, target_wav, NOTE)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF" + bytes(100))
    with pytest.raises(ValueError, match="garbage.wav: not a readable audio file"):
        load(session, garbage)
    with pytest.raises(ValueError, match="note 10 is outside the synth's playable range 36..84"):
        session.load_target(str(target_wav), print, print, 10)  # refused before any work
    now = session.snapshot()
    assert now.state is SessionState.IDLE and now.target == str(target_wav) and now.note == NOTE


def test_patches_are_saved_by_bare_name_in_the_patch_folder_only(
    synth: Synth, agent: OnnxAgent, target_wav: Path, tmp_path: Path
) -> None:
    from synthmatch.patches import PatchError

    session = MatchSession(synth, agent, patch_dir=tmp_path / "patches")
    load(session, target_wav, NOTE)
    run_match(session, 2)
    for name in ("../escape", str(tmp_path / "abs.json"), "~/.bashrc", "sub/x"):
        with pytest.raises(PatchError, match="is not a patch name"):
            session.save_patch(name)
    (tmp_path / "patches").mkdir()
    (tmp_path / "patches" / "notes.json").write_text("my notes")
    with pytest.raises(PatchError, match="notes.json: exists and is not a synthmatch patch file"):
        session.save_patch("notes")
    assert (tmp_path / "patches" / "notes.json").read_text() == "my notes"
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["patches", "patches/notes.json"]


def test_a_search_pairs_its_best_distance_with_the_patch_that_has_it_from_its_first_step(
    synth: Synth, agent: OnnxAgent, target_wav: Path, tmp_path: Path
) -> None:
    """A search starts from the default patch, not the current one: a save during it, before any step improved,
    holds the default patch with the default's distance (it held the current patch with the default's distance)."""
    session = MatchSession(synth, agent, patch_dir=tmp_path)
    load(session, target_wav, NOTE)
    assert run_match(session, 8).outcome is not None
    defaults = start_patch(synth, None)
    assert not np.array_equal(session.snapshot().current_params, defaults)  # the agent moved the current patch
    default_wav = tmp_path / "default.wav"  # a target no random patch comes closer to than the default
    with AudioFile(str(default_wav), "w", samplerate=synth.sample_rate, num_channels=1) as file:
        file.write(synth.render(defaults[None], NOTE))
    load(session, default_wav, NOTE)
    saved: list[tuple[MatchProgress, Path]] = []

    def save_on_each_step(progress: MatchProgress) -> None:
        saved.append((progress, session.save_patch(f"step{progress.step}")[1]))

    ends = Ends()
    session.start_match(6, save_on_each_step, ends.done, "random")  # the default patch, then 6 random renders
    ends.wait()
    assert len(saved) == 6 and not any(progress.improved for progress, _ in saved)
    prepared = read_prepared_target(default_wav, synth.definition, note=NOTE)
    held = open_synth(prepared.definition)
    for progress, path in saved:
        patch = read_patch(path)
        params = patch.params(synth.definition)
        np.testing.assert_array_equal(params, defaults)
        measured = float(multires_stft_distance(held.render(params[None], NOTE), prepared.audio[None])[0])
        assert measured == pytest.approx(patch.distance, rel=1e-5, abs=1e-6), progress.step
        assert patch.gain_db is None and patch.note_seconds == prepared.note_seconds  # the level comes at the end
