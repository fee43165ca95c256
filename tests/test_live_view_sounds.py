"""The live view's sounds and plain words over real HTTP on 127.0.0.1: the target and the current sound as WAV
files at equal loudness, the start and best distance with the reach word, the success threshold and the
spectrograms' axes in the state."""

from __future__ import annotations

import http.client
import io
import json
import threading
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthmatch.agent import OnnxAgent, default_model_dir
from synthmatch.daemon.live_view import LiveView
from synthmatch.daemon.match_session import MatchSession
from synthmatch.daemon.session_values import MatchOutcome
from synthmatch.features import FeatureSettings
from synthmatch.loudness import REFERENCE_DBFS, loudness_db
from synthmatch.reach import SUCCESS_DISTANCE, reach_word
from synthmatch.synths import open_synth


def get(view: LiveView, path: str, host: str | None = None) -> tuple[int, str, bytes]:
    """GET ``path`` from the view; the status, the content type and the body."""
    connection = http.client.HTTPConnection("127.0.0.1", view.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": host or f"127.0.0.1:{view.port}"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def state(view: LiveView) -> dict[str, Any]:
    status, _, body = get(view, "/state.json")
    assert status == 200
    return json.loads(body)


def read_wav(body: bytes) -> tuple[int, np.ndarray]:
    """A 16-bit mono WAV's sample rate and samples as floats in [-1, 1]."""
    with wave.open(io.BytesIO(body)) as file:
        assert (file.getnchannels(), file.getsampwidth()) == (1, 2)
        frames = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")
        return file.getframerate(), frames.astype(np.float32) / 32767.0


def serve_view(plays_live: bool = False) -> tuple[LiveView, MatchSession]:
    synth = open_synth("builtin")
    session = MatchSession(synth, OnnxAgent.load(default_model_dir(synth.definition), synth.definition))
    view = LiveView(session, "builtin", FeatureSettings(sample_rate=synth.sample_rate), (-80.0, 20.0), port=0,
                    plays_live=plays_live)
    view.start()
    return view, session


@pytest.fixture()
def view() -> Iterator[LiveView]:
    view, session = serve_view()
    yield view
    view.close()
    session.close()


def load_and_match(session: MatchSession, target: Path, steps: int) -> MatchOutcome:
    """Load ``target`` at note 48 and run a match of ``steps`` steps in the session's worker; its outcome."""
    loaded, done = threading.Event(), threading.Event()
    outcome: list[MatchOutcome] = []
    session.load_target(str(target), lambda _: loaded.set(), pytest.fail, 48)
    assert loaded.wait(30)
    session.start_match(steps, lambda _: None, lambda o: (outcome.append(o), done.set()))
    assert done.wait(60)
    return outcome[0]


def test_the_target_and_the_current_sound_play_at_equal_loudness(view: LiveView, target_wav: Path) -> None:
    status, _, body = get(view, "/target.wav")
    assert status == 404 and b"no target loaded yet: send /synthmatch/target/load" in body
    outcome = load_and_match(view.session, target_wav, 6)

    rate, target = read_wav(get(view, "/target.wav")[2])
    status, kind, body = get(view, "/sound.wav")
    assert (status, kind) == (200, "audio/wav")
    sound_rate, sound = read_wav(body)
    samples = view.session.definition.note.render_samples
    assert rate == sound_rate == view.session.synth.sample_rate and len(target) == len(sound) == samples
    for audio in (target, sound):  # both at the loudness the distance compares them at, neither clipped
        assert loudness_db(audio[None])[0] == pytest.approx(REFERENCE_DBFS, abs=0.5)
        assert np.max(np.abs(audio)) < 0.9
    best = view.session.synth.render(view.session.snapshot().current_params[None], 48)[0]
    assert np.corrcoef(sound, best)[0, 1] > 0.99  # the current patch at the target's note, not another sound
    assert outcome.best_distance > 0 and not np.allclose(sound, target, atol=1e-3)


def test_the_state_says_the_start_the_best_the_word_and_the_threshold(view: LiveView, target_wav: Path) -> None:
    idle = state(view)
    assert idle["distance_start"] is None and idle["reach_word"] is None
    assert idle["audio"] == {"target": False, "sound": True}
    outcome = load_and_match(view.session, target_wav, 4)
    done = state(view)
    assert done["distance_start"] == pytest.approx(outcome.distance_start, rel=1e-6)
    assert done["best_distance"] <= done["distance_start"]  # the start is a candidate: the best is never worse
    assert done["reach_word"] == reach_word(outcome.best_distance)
    assert done["reach"].startswith(done["reach_word"] + ":")
    assert done["success_distance"] == SUCCESS_DISTANCE == 0.16
    assert [word for word, _ in done["reach_thresholds"]] == ["exact", "close", "near"]
    axes, settings = done["mel_axes"], FeatureSettings(sample_rate=view.session.synth.sample_rate)
    assert len(axes["band_hz"]) == len(done["target_mel"]) == settings.n_mels
    assert settings.fmin_hz < axes["band_hz"][0] < axes["band_hz"][-1] < settings.sample_rate / 2
    assert np.all(np.diff(axes["band_hz"]) > 0)
    assert axes["seconds"] == pytest.approx(view.session.definition.note.render_seconds)
    cutoff = next(row for row in done["params"] if row["name"] == "cutoff_hz")
    assert cutoff["unit"] == "Hz" and cutoff["range"][0] <= cutoff["value"] <= cutoff["range"][1]
    assert done["audio"] == {"target": True, "sound": True}


def test_a_synth_played_live_is_not_rendered_for_the_view(target_wav: Path) -> None:
    view, session = serve_view(plays_live=True)
    try:
        assert state(view)["audio"]["sound"] is False
        status, _, body = get(view, "/sound.wav")
        assert status == 409 and b"played live" in body
    finally:
        view.close()
        session.close()


def test_one_render_at_a_time_and_the_view_keeps_answering(view: LiveView) -> None:
    with view.sounds._rendering:  # a render in progress
        status, _, body = get(view, "/sound.wav")
        assert status == 503 and b"try again" in body
        assert state(view)["state"] == "idle"
    assert get(view, "/sound.wav")[0] == 200


def test_the_sounds_keep_the_views_guards(view: LiveView) -> None:
    for path in ("/target.wav", "/sound.wav"):
        status, _, body = get(view, path, host="evil.example")
        assert status == 421 and b"RIFF" not in body
