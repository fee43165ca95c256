"""The daemon's live view (``synthmatch daemon --view``): a web page that shows the match as it happens.

A standard-library HTTP server in a thread serves the page (``live_view.html``, package data, its script and
style inline, so nothing comes from another host), ``/state.json``, the session's snapshot as JSON, which the page
polls a few times a second, and on request the sounds: ``/target.wav`` and ``/sound.wav``, the patch it shows
(:mod:`synthmatch.daemon.view_audio`). The server only reads the session; it never changes it. It serves through
:mod:`synthmatch.daemon.local_http_server`: few threads, deadlines, and only this machine's Host names.
"""

from __future__ import annotations

import json
import math
from http import HTTPStatus
from importlib import resources
from typing import Any, cast

import numpy as np

from synthmatch.agent import Mel
from synthmatch.daemon.config import DEFAULT_VIEW_PORT
from synthmatch.daemon.local_http_server import (
    MAX_CONNECTIONS,
    REQUEST_TIMEOUT_S,
    LocalHTTPServer,
    LocalRequestHandler,
)
from synthmatch.daemon.match_session import MatchSession
from synthmatch.daemon.osc_server import DEFAULT_HOST, resolve_udp
from synthmatch.daemon.session_values import Params, SessionSnapshot, SessionState
from synthmatch.daemon.view_audio import PatchSounds, SoundUnavailable, wav_bytes
from synthmatch.definitions import SynthDefinition
from synthmatch.features import FeatureSettings, mel_band_edges_hz
from synthmatch.params import denormalise, step_index
from synthmatch.reach import REACH_THRESHOLDS, SUCCESS_DISTANCE, reach_sentence, reach_word

PAGE_PATH, STATE_PATH = "/", "/state.json"
TARGET_WAV_PATH, SOUND_WAV_PATH = "/target.wav", "/sound.wav"
#: How often the page asks for the state, in milliseconds.
POLL_MS = 250


def shown_patch(snapshot: SessionSnapshot) -> Params:
    """The patch the view shows and plays: the best so far during a match, else the one the synth is set to."""
    matching = snapshot.state in (SessionState.MATCHING, SessionState.STOPPING)
    return snapshot.best_params if matching and snapshot.best_params is not None else snapshot.current_params


def mel_axes(features: FeatureSettings, render_samples: int) -> dict[str, Any]:
    """What labels the spectrograms: each mel band's centre in Hz (lowest first) and the seconds they span."""
    edges = mel_band_edges_hz(features.fmin_hz, features.fmax_hz or features.sample_rate / 2, features.n_mels)
    return {"band_hz": [round(float(hz), 1) for hz in edges[1:-1]], "seconds": render_samples / features.sample_rate}


def view_state(snapshot: SessionSnapshot, definition: SynthDefinition, model: str,
               mel_range_db: tuple[float, float], axes: dict[str, Any] | None = None,
               sound_available: bool = False) -> dict[str, Any]:
    """What the page shows, as plain JSON values (NaN becomes null): the state, the curve and its thresholds, the
    patch, both mels and their axes (``axes`` from :func:`mel_axes`), which sounds it can play."""
    patch = shown_patch(snapshot)
    best = snapshot.best_distance
    return {
        "state": str(snapshot.state),
        "synth": {"name": definition.name, "kind": definition.kind},
        "model": model,
        "target": snapshot.target,
        "note": snapshot.note,
        "step": snapshot.step,
        "phase": snapshot.phase,
        "max_steps": snapshot.max_steps,
        "distance": _finite(snapshot.distance),
        "best_distance": _finite(snapshot.best_distance),
        "distance_start": _finite(snapshot.distance_start),
        "reach": reach_sentence(best) if math.isfinite(best) else None,
        "reach_word": reach_word(best) if math.isfinite(best) else None,
        "success_distance": SUCCESS_DISTANCE,
        "reach_thresholds": [[word, bound] for word, bound in REACH_THRESHOLDS],
        "history": [_finite(d) for d in snapshot.history],
        "best_history": [_finite(d) for d in snapshot.best_history],
        "params": [_parameter_row(definition, index, float(x)) for index, x in enumerate(patch)],
        "mel_range_db": list(mel_range_db),
        "target_mel": _mel_rows(snapshot.target_mel),
        "sound_mel": _mel_rows(snapshot.sound_mel),
        "mel_axes": axes,
        "audio": {"target": snapshot.target_audio is not None, "sound": sound_available},
        "poll_ms": POLL_MS,
    }


def _parameter_row(definition: SynthDefinition, index: int, x: float) -> dict[str, Any]:
    """One parameter of the shown patch: its name, value in its units (or step label), unit, normalised value and
    range in its units."""
    parameter = definition.parameters[index]
    label = parameter.labels[int(step_index(parameter, x))] if parameter.steps else None
    return {"name": parameter.name, "value": float(denormalise(parameter, x)), "unit": parameter.unit, "label": label,
            "normalised": x, "range": [float(denormalise(parameter, 0.0)), float(denormalise(parameter, 1.0))]}


def _finite(value: float) -> float | None:
    """``value``, or None for NaN or infinity (JSON has no NaN)."""
    return value if math.isfinite(value) else None


def _mel_rows(mel: Mel | None) -> list[list[int]] | None:
    """A log-mel [n_mels, frames] as rows of whole dB, lowest band first: small to send, enough to draw."""
    return None if mel is None else np.rint(mel).astype(int).tolist()


class _Request(LocalRequestHandler):
    """One GET: the page, the state or a sound; anything else is 404."""

    server_version = "synthmatch-view"

    def do_GET(self) -> None:
        view = cast(LiveView, self.server)
        path = self.path.split("?", 1)[0]
        if path == PAGE_PATH:
            self.send_body(HTTPStatus.OK, "text/html; charset=utf-8", view.page)
        elif path == STATE_PATH:
            self.send_body(HTTPStatus.OK, "application/json", json.dumps(view.state(), allow_nan=False).encode())
        elif path in (TARGET_WAV_PATH, SOUND_WAV_PATH):
            try:
                body = view.target_wav() if path == TARGET_WAV_PATH else view.sound_wav()
            except SoundUnavailable as err:
                self.send_body(HTTPStatus(err.status), "text/plain; charset=utf-8", f"{err}\n".encode())
            else:
                self.send_body(HTTPStatus.OK, "audio/wav", body)
        else:
            self.send_body(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8",
                           f"no such page: {path}; the live view is at {PAGE_PATH}, its data at {STATE_PATH}, its "
                           f"sounds at {TARGET_WAV_PATH} and {SOUND_WAV_PATH}\n".encode())


class LiveView(LocalHTTPServer):
    """The live view's HTTP server on ``host:port`` (port 0: any free one), serving one session's state."""

    thread_name = "synthmatch-view"

    def __init__(self, session: MatchSession, model: str, features: FeatureSettings, mel_range_db: tuple[float, float],
                 host: str = DEFAULT_HOST, port: int = DEFAULT_VIEW_PORT, max_connections: int = MAX_CONNECTIONS,
                 request_timeout_s: float = REQUEST_TIMEOUT_S, plays_live: bool = False) -> None:
        """Serve ``session``'s state; ``model`` names the model folder, ``features`` how the agent hears (the
        spectrograms' axes), ``mel_range_db`` the log-mels' range; ``plays_live``: the synth is played live, so
        its sound is not rendered on request.

        ``max_connections`` and ``request_timeout_s`` bound the connections (see the guards in
        :mod:`synthmatch.daemon.local_http_server`).
        """
        self.session = session
        self.model = model
        self.mel_range_db = mel_range_db
        self.axes = mel_axes(features, session.definition.note.render_samples)
        self.sounds = PatchSounds(session.synth, plays_live)
        self.page = resources.files("synthmatch.daemon").joinpath("live_view.html").read_bytes()
        try:
            self.address_family, address = resolve_udp(host, port)  # the same address for TCP
            super().__init__(address, _Request, max_connections, request_timeout_s)
        except OSError as err:
            raise OSError(
                f"cannot serve the live view on {host}:{port}: {err.strerror or err}; another program may be "
                "using that port: choose another one with --view-port"
            ) from None

    @property
    def url(self) -> str:
        """Where to point a browser."""
        host, port = str(self.server_address[0]), int(self.server_address[1])
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def state(self) -> dict[str, Any]:
        """The session's state as the page gets it."""
        return view_state(self.session.snapshot(), self.session.definition, self.model, self.mel_range_db,
                          self.axes, self.sounds.available)

    def target_wav(self) -> bytes:
        """The target as matched (onset-aligned, at the synth's rate and length) as WAV; 404 before one is loaded."""
        audio = self.session.snapshot().target_audio
        if audio is None:
            raise SoundUnavailable(404, "no target loaded yet: send /synthmatch/target/load <path>")
        return wav_bytes(audio, self.session.synth.sample_rate)

    def sound_wav(self) -> bytes:
        """The shown patch (:func:`shown_patch`) rendered at the target's note, as WAV."""
        snapshot = self.session.snapshot()
        return self.sounds.wav(shown_patch(snapshot), snapshot.note)

