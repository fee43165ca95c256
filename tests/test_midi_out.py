"""MIDI out: the bytes of each message type, port lookup errors, and real delivery over JACK MIDI."""

from __future__ import annotations

import time

import pytest
import rtmidi
from live_stack import JackServer, jack  # noqa: F401 (fixture)

from synthmatch.daemon.midi_out import MidiOutput, find_port
from synthmatch.daemon.transport_errors import TransportError
from synthmatch.definitions import MidiTransport, find_definition
from synthmatch.midi_messages import control_messages, note_channel, note_off, note_on


def test_cc7_is_one_message_on_the_channel() -> None:
    assert control_messages(MidiTransport(channel=3, cc=74), 100) == [[0xB2, 74, 100]]


def test_cc14_sends_msb_then_lsb() -> None:
    midi = MidiTransport(channel=1, cc=16, cc_lsb=48, max=16383)
    assert control_messages(midi, 0x1234) == [[0xB0, 16, 0x24], [0xB0, 48, 0x34]]
    assert control_messages(midi, 16383) == [[0xB0, 16, 127], [0xB0, 48, 127]]


def test_nrpn_selects_the_parameter_then_sends_data_entry() -> None:
    midi = MidiTransport(channel=2, nrpn=300, max=16383)
    assert control_messages(midi, 1000) == [[0xB1, 99, 2], [0xB1, 98, 44], [0xB1, 6, 7], [0xB1, 38, 104]]


def test_nrpn_with_a_7bit_range_sends_only_data_msb() -> None:
    midi = MidiTransport(channel=1, nrpn=5, max=127)
    assert control_messages(midi, 99) == [[0xB0, 99, 0], [0xB0, 98, 5], [0xB0, 6, 99]]


def test_notes_on_the_definitions_channel() -> None:
    channel = note_channel(find_definition("builtin"))
    assert channel == 1
    assert note_on(channel, 60, 100) == [0x90, 60, 100]
    assert note_off(16, 60) == [0x8F, 60, 0]


def test_find_port_by_substring_index_and_errors_list_the_ports() -> None:
    ports = ["Midi Through:0", "zynaddsubfx:midi_input", "synth:in"]
    assert find_port(ports, "ZYN", "jack") == 1
    assert find_port(ports, "2", "jack") == 2
    with pytest.raises(TransportError, match=r"no MIDI output port matches 'nord'.*0: Midi Through"):
        find_port(ports, "nord", "jack")
    with pytest.raises(TransportError, match="there is no MIDI output port 7"):
        find_port(ports, "7", "jack")
    with pytest.raises(TransportError, match="ambiguous"):
        find_port(ports, "i", "jack")


@pytest.mark.slow
def test_jack_midi_delivers_the_expected_bytes(jack: JackServer) -> None:  # noqa: F811
    """A JACK MIDI input port receives exactly the bytes of cc7, cc14 and NRPN; a port that goes raises."""
    monitor = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="monitor")
    monitor.open_virtual_port("in")
    out = MidiOutput("monitor:in", api="auto", client_name="sender")
    try:
        assert out.api == "jack"  # ALSA has no sequencer here, so auto fell back to JACK
        expected = [
            *control_messages(MidiTransport(channel=1, cc=74), 127),
            *control_messages(MidiTransport(channel=1, cc=16, cc_lsb=48, max=16383), 9000),
            *control_messages(MidiTransport(channel=4, nrpn=1234, max=16383), 4321),
            note_on(1, 60, 100),
        ]
        out.send(expected)
        received = []
        deadline = time.monotonic() + 2
        while len(received) < len(expected) and time.monotonic() < deadline:
            message = monitor.get_message()
            if message is None:
                time.sleep(0.002)
            else:
                received.append(message[0])
        assert received == expected
        monitor.close_port()
        monitor.delete()
        with pytest.raises(TransportError, match="has gone"):
            out.send([note_off(1, 60)])
    finally:
        out.close()
    with pytest.raises(TransportError, match="closed"):
        out.send([note_off(1, 60)])


def test_jack_api_without_a_server_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "synthmatch-no-such-server")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    with pytest.raises(TransportError, match="start jackd first"):
        MidiOutput("virtual", api="jack")
