"""ParameterSender and OSC out: values scaled to each address, only changes sent, notes over OSC; real UDP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer

from synthmatch.daemon.osc_out import OscOutput, note_messages, parse_osc_target, startup_messages
from synthmatch.daemon.parameter_sender import ParameterSender
from synthmatch.daemon.transport_errors import TransportError
from synthmatch.definitions import find_definition, parse_definition


class Receiver:
    """A real OSC server on 127.0.0.1 that keeps every message it gets."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[Any]]] = []
        self.arrived = threading.Condition()
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._keep)
        self.server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]

    def _keep(self, address: str, *args: Any) -> None:
        with self.arrived:
            self.messages.append((address, list(args)))
            self.arrived.notify_all()

    def wait(self, count: int) -> list[tuple[str, list[Any]]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.messages) >= count, timeout=2), self.messages
            return list(self.messages)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_osc_target_parsing() -> None:
    assert parse_osc_target("127.0.0.1:7777") == ("127.0.0.1", 7777)
    with pytest.raises(ValueError, match="host:port"):
        parse_osc_target("7777")


def test_zyn_startup_messages_make_the_default_voice_a_saw_then_set_the_filter() -> None:
    messages = startup_messages(find_definition("zynaddsubfx"))
    assert messages[:2] == [("/part0/kit0/adpars/VoicePar0/OscilSmp/Pcurrentbasefunc", [3]),
                            ("/part0/kit0/adpars/VoicePar0/OscilSmp/Pbasefuncpar", [0])]
    assert messages[-2] == ("/part0/kit0/adpars/GlobalPar/GlobalFilter/basefreq", [1000.0])
    assert not any("load" in address or "banks" in str(args) for address, args in messages)  # no preset


def test_sends_each_address_scaled_to_its_range_and_only_changes(receiver: Receiver) -> None:
    definition = find_definition("zynaddsubfx")
    sender = ParameterSender(definition, None, OscOutput("127.0.0.1", receiver.port))
    assert sender.routes == ("osc",) * len(definition.parameters)  # no MIDI open: every parameter over OSC
    params = np.array(definition.defaults_normalised())
    assert sender.send(params) == len(definition.parameters)
    got = dict(receiver.wait(len(definition.parameters)))
    assert got["/part0/kit0/adpars/GlobalPar/GlobalFilter/basefreq"][0] == pytest.approx(1000, rel=1e-4)
    assert got["/part0/kit0/adpars/GlobalPar/AmpEnvelope/PS_val"] == [127]  # type "i": an int
    assert sender.send(params) == 0  # nothing changed, nothing sent
    params[0] = 1.0
    assert sender.send(params) == 1
    assert receiver.wait(len(definition.parameters) + 1)[-1][1][0] == pytest.approx(9646.6, rel=1e-4)
    assert sender.send_all(params) == len(definition.parameters)
    sender.close()
    with pytest.raises(TransportError, match="closed"):
        sender.send_all(params)


def test_notes_go_over_osc_when_the_definition_says_so(receiver: Receiver) -> None:
    data = {
        "name": "osc-notes", "kind": "external",
        "parameters": [{"name": "cutoff", "min": 0, "max": 1, "osc": {"address": "/cutoff"}}],
        "note_osc": {"on": {"address": "/noteOn", "args": [0, "$note", "$velocity"]},
                     "off": {"address": "/noteOff", "args": [0, "$note"]}},
    }
    definition = parse_definition(data)
    assert note_messages(definition, 45, 110) == (("/noteOn", [0, 45, 110]), ("/noteOff", [0, 45]))
    sender = ParameterSender(definition, None, OscOutput("127.0.0.1", receiver.port))
    sender.play_note(45, 110)
    sender.stop_note(45)
    assert receiver.wait(2) == [("/noteOn", [0, 45, 110]), ("/noteOff", [0, 45])]


def test_no_route_for_notes_says_what_to_open() -> None:
    sender = ParameterSender(find_definition("builtin"), None, None)
    assert len(sender.unrouted) == len(sender.definition.parameters)
    with pytest.raises(TransportError, match="open a MIDI output"):
        sender.play_note(60, 100)
