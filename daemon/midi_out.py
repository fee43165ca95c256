"""MIDI out with python-rtmidi: the port that messages (:mod:`synthmatch.midi_messages`) go to.

:class:`MidiOutput` opens a port by name (substring), index or as a new virtual port, on ALSA or JACK: "auto" tries
ALSA and falls back to JACK where ALSA has no sequencer (machines without /dev/snd/seq, where rtmidi raises
"error creating ALSA sequencer client").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

import rtmidi

from synthmatch.daemon.transport_errors import TransportError

MidiApi = Literal["auto", "alsa", "jack"]
Client = TypeVar("Client", rtmidi.MidiIn, rtmidi.MidiOut)

#: What ``port`` says to make a new port that others connect to, instead of joining an existing one.
VIRTUAL = "virtual"
_APIS = {"alsa": rtmidi.API_LINUX_ALSA, "jack": rtmidi.API_UNIX_JACK}


class MidiOutput:
    """An open rtmidi output port; :meth:`send` raises :class:`TransportError` once the port has gone."""

    def __init__(self, port: str, api: MidiApi = "auto", client_name: str = "synthmatch") -> None:
        self._midi, self.api = open_client(rtmidi.MidiOut, api, client_name)
        self._errors: list[str] = []
        self._midi.set_error_callback(lambda _kind, message, _data: self._errors.append(message))
        self.virtual = port == VIRTUAL
        if self.virtual:
            self._midi.open_virtual_port("out")
            self.port_name = f"{client_name}:out"
        else:
            index = find_port(self._midi.get_ports(), port, self.api)
            self.port_name = self._midi.get_ports()[index]
            self._midi.open_port(index, "out")

    def send(self, messages: Sequence[Sequence[int]]) -> None:
        """Send ``messages`` in order; a TransportError if the port was closed or the device has gone."""
        if self._midi is None:
            raise TransportError(f"MIDI port {self.port_name!r} is closed")
        if not self.virtual and self.port_name not in self._midi.get_ports():
            raise TransportError(
                f"MIDI port {self.port_name!r} has gone ({self.api}); reconnect the device or start the synth again"
            )
        try:
            for message in messages:
                self._midi.send_message(list(message))
        except (rtmidi.RtMidiError, ValueError) as err:
            raise TransportError(f"MIDI port {self.port_name!r}: {err}") from err
        if self._errors:
            error, self._errors = self._errors[0], []
            raise TransportError(f"MIDI port {self.port_name!r}: {error}")

    def close(self) -> None:
        """Close the port; later sends raise TransportError."""
        if self._midi is not None:
            self._midi.close_port()
            self._midi.delete()
            self._midi = None


def find_port(ports: Sequence[str], port: str, api: str) -> int:
    """Index of ``port`` in ``ports``: an index given as digits, or the one name containing it (case-insensitive)."""
    listing = "; ".join(f"{i}: {name}" for i, name in enumerate(ports)) or "none"
    if port.isdigit():
        if int(port) < len(ports):
            return int(port)
        raise TransportError(f"there is no MIDI output port {port} on {api}; the ports are: {listing}")
    matches = [i for i, name in enumerate(ports) if port.lower() in name.lower()]
    exact = [i for i in matches if ports[i].lower() == port.lower()]
    if len(exact) == 1 or len(matches) == 1:
        return (exact or matches)[0]
    if not matches:
        raise TransportError(
            f"no MIDI output port matches {port!r} on {api}; the ports are: {listing}. Give a name, an index, "
            f"or {VIRTUAL!r} for a new port that the synth connects to"
        )
    names = ", ".join(repr(ports[i]) for i in matches)
    raise TransportError(f"MIDI port {port!r} is ambiguous on {api}: it matches {names}; give more of the name")


def open_client(kind: type[Client], api: MidiApi, client_name: str) -> tuple[Client, str]:
    """An rtmidi ``MidiOut`` or ``MidiIn`` client on ``api`` and the API's name; auto: ALSA, then JACK."""
    if api not in ("auto", *_APIS):
        raise ValueError(f"MIDI API {api!r} is not one of auto, alsa, jack")
    compiled = rtmidi.get_compiled_api()
    names = [api] if api != "auto" else [name for name in _APIS if _APIS[name] in compiled]
    failures = []
    for name in names or ["default"]:
        try:
            return kind(_APIS.get(name, rtmidi.API_UNSPECIFIED), name=client_name), name
        except rtmidi.RtMidiError as err:
            failures.append(f"{name}: {err}")
    raise TransportError(
        f"cannot open a MIDI client ({'; '.join(failures)}); for JACK, start jackd first, for ALSA load snd-seq"
    )
