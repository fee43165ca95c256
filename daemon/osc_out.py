"""OSC out with python-osc: parameter values to their addresses over UDP, and a definition's startup messages.

A definition may carry a ``[startup]`` table whose ``osc`` list holds ``{ address, args }`` messages to send once
before matching (ZynAddSubFX loads a patch and sets the reference values its MIDI controllers act on), and a
``[note_osc]`` table to play notes over OSC instead of MIDI: ``on`` and ``off`` messages whose string arguments
``"$note"`` and ``"$velocity"`` are replaced by the note's numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pythonosc.udp_client import SimpleUDPClient

from synthmatch.daemon.transport_errors import TransportError
from synthmatch.definitions import SynthDefinition

OscArgument = int | float | str
OscMessage = tuple[str, list[OscArgument]]


def parse_osc_target(target: str) -> tuple[str, int]:
    """``"host:port"`` -> (host, port); a ValueError shows the expected form."""
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"OSC target {target!r} must be host:port, e.g. 127.0.0.1:7777")
    return host, int(port)


def startup_messages(definition: SynthDefinition) -> list[OscMessage]:
    """The ``[startup].osc`` messages of ``definition`` in order; a ValueError names a malformed entry."""
    startup = definition.extra.get("startup", {})
    return [_message(entry, f"{definition.source or definition.name} [startup].osc") for entry in
            (startup.get("osc", []) if isinstance(startup, Mapping) else [])]


def note_messages(definition: SynthDefinition, note: int, velocity: int) -> tuple[OscMessage, OscMessage] | None:
    """The ``[note_osc]`` note-on and note-off messages for ``note`` and ``velocity``; None if it has none."""
    table = definition.extra.get("note_osc")
    if table is None:
        return None
    where = f"{definition.source or definition.name} [note_osc]"
    if not isinstance(table, Mapping) or "on" not in table or "off" not in table:
        raise ValueError(f"{where}: needs 'on' and 'off' messages, each {{ address = '/...', args = [...] }}")
    values = {"$note": note, "$velocity": velocity}
    on, off = _message(table["on"], where), _message(table["off"], where)
    return ((on[0], [values.get(a, a) if isinstance(a, str) else a for a in on[1]]),
            (off[0], [values.get(a, a) if isinstance(a, str) else a for a in off[1]]))


def _message(entry: Any, where: str) -> OscMessage:
    if not isinstance(entry, Mapping) or not str(entry.get("address", "")).startswith("/"):
        raise ValueError(f"{where}: each message needs an address starting with '/', got {entry!r}")
    args = entry.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, int | float | str) for a in args):
        raise ValueError(f"{where}: args of {entry['address']} must be a list of numbers and strings")
    return str(entry["address"]), list(args)


class OscOutput:
    """A UDP destination for OSC messages; send errors become :class:`TransportError`."""

    def __init__(self, host: str, port: int) -> None:
        try:
            self._client: SimpleUDPClient | None = SimpleUDPClient(host, port)
        except OSError as err:  # an unknown host name
            raise TransportError(f"cannot reach OSC target {host}:{port}: {err}") from err
        self.target = f"{host}:{port}"

    @classmethod
    def to(cls, target: str) -> OscOutput:
        """An output to ``"host:port"``."""
        return cls(*parse_osc_target(target))

    def send(self, address: str, args: OscArgument | Sequence[OscArgument]) -> None:
        """Send one message; a TransportError if it cannot leave this machine."""
        if self._client is None:
            raise TransportError(f"OSC output to {self.target} is closed")
        try:
            self._client.send_message(address, args if isinstance(args, int | float | str) else list(args))
        except OSError as err:
            raise TransportError(f"OSC to {self.target} failed for {address}: {err}") from err

    def close(self) -> None:
        """Close the socket; later sends raise TransportError."""
        if self._client is not None:
            self._client.close()
            self._client = None
