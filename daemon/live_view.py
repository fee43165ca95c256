"""The daemon's live view (``synthmatch daemon --view``): a web page that shows the match as it happens.

A standard-library HTTP server in a thread serves two things: the page (``live_view.html``, package data, its
script and style inline, so nothing comes from another host) and ``/state.json``, the session's snapshot as JSON,
which the page polls a few times a second. The server only reads the session; it never changes it. It serves
through :mod:`synthmatch.daemon.local_http_server`: few threads, deadlines, and only this machine's Host names.
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
from synthmatch.daemon.session_values import SessionSnapshot, SessionState
from synthmatch.definitions import SynthDefinition
from synthmatch.params import denormalise, step_index
from synthmatch.reach import reach_sentence

PAGE_PATH, STATE_PATH = "/", "/state.json"
#: How often the page asks for the state, in milliseconds.
POLL_MS = 250


def view_state(snapshot: SessionSnapshot, definition: SynthDefinition, model: str,
               mel_range_db: tuple[float, float]) -> dict[str, Any]:
    """What the page shows, as plain JSON values (NaN becomes null): the state, the curve, the patch, both mels."""
    matching = snapshot.state in (SessionState.MATCHING, SessionState.STOPPING)
    patch = snapshot.best_params if matching and snapshot.best_params is not None else snapshot.current_params
    return {
        "state": str(snapshot.state),
        "synth": {"name": definition.name, "kind": definition.kind},
        "model": model,
        "target": snapshot.target,
        "note": snapshot.note,
        "step": snapshot.step,
        "max_steps": snapshot.max_steps,
        "distance": _finite(snapshot.distance),
        "best_distance": _finite(snapshot.best_distance),
        "reach": reach_sentence(snapshot.best_distance) if math.isfinite(snapshot.best_distance) else None,
        "history": [_finite(d) for d in snapshot.history],
        "best_history": [_finite(d) for d in snapshot.best_history],
        "params": [_parameter_row(definition, index, float(x)) for index, x in enumerate(patch)],
        "mel_range_db": list(mel_range_db),
        "target_mel": _mel_rows(snapshot.target_mel),
        "sound_mel": _mel_rows(snapshot.sound_mel),
        "poll_ms": POLL_MS,
    }


def _parameter_row(definition: SynthDefinition, index: int, x: float) -> dict[str, Any]:
    """One parameter of the shown patch: its name, value in its units (or step label), unit, and normalised value."""
    parameter = definition.parameters[index]
    label = parameter.labels[int(step_index(parameter, x))] if parameter.steps else None
    return {"name": parameter.name, "value": float(denormalise(parameter, x)), "unit": parameter.unit, "label": label,
            "normalised": x}


def _finite(value: float) -> float | None:
    """``value``, or None for NaN or infinity (JSON has no NaN)."""
    return value if math.isfinite(value) else None


def _mel_rows(mel: Mel | None) -> list[list[int]] | None:
    """A log-mel [n_mels, frames] as rows of whole dB, lowest band first: small to send, enough to draw."""
    return None if mel is None else np.rint(mel).astype(int).tolist()


class _Request(LocalRequestHandler):
    """One GET: the page or the state; anything else is 404."""

    server_version = "synthmatch-view"

    def do_GET(self) -> None:
        view = cast(LiveView, self.server)
        path = self.path.split("?", 1)[0]
        if path == PAGE_PATH:
            self.send_body(HTTPStatus.OK, "text/html; charset=utf-8", view.page)
        elif path == STATE_PATH:
            self.send_body(HTTPStatus.OK, "application/json", json.dumps(view.state(), allow_nan=False).encode())
        else:
            self.send_body(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8",
                       f"no such page: {path}; the live view is at {PAGE_PATH}, its data at {STATE_PATH}\n".encode())


class LiveView(LocalHTTPServer):
    """The live view's HTTP server on ``host:port`` (port 0: any free one), serving one session's state."""

    thread_name = "synthmatch-view"

    def __init__(self, session: MatchSession, model: str, mel_range_db: tuple[float, float],
                 host: str = DEFAULT_HOST, port: int = DEFAULT_VIEW_PORT, max_connections: int = MAX_CONNECTIONS,
                 request_timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        """Serve ``session``'s state; ``model`` names the model folder, ``mel_range_db`` the log-mels' range.

        ``max_connections`` and ``request_timeout_s`` bound the connections (see the guards in
        :mod:`synthmatch.daemon.local_http_server`).
        """
        self.session = session
        self.model = model
        self.mel_range_db = mel_range_db
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
        return view_state(self.session.snapshot(), self.session.definition, self.model, self.mel_range_db)

