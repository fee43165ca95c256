"""A real audio and MIDI stack for the live tests: a private JACK server on the dummy driver, and ZynAddSubFX on it.

Import the fixtures into a test module (``from live_stack import jack, live_instrument, zynaddsubfx``). The JACK
server has a name of its own (JACK_DEFAULT_SERVER), so tests cannot disturb another JACK server; everything started
here is stopped by its PID, PortAudio first (it aborts at exit if jackd dies under it). Tests skip when a tool is
missing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
import sounddevice as sd
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

from bench.live_daemon import stop_process as stop
from synthmatch.daemon.audio_in import restart_portaudio

#: This process's JACK client (PortAudio's), so its ports are ``synthmatch-test:in_N``.
TEST_CLIENT = "synthmatch-test"
SAMPLE_RATE = 48000


@dataclass
class JackServer:
    """A running jackd with the dummy driver, reached by setting JACK_DEFAULT_SERVER to ``name``."""

    name: str
    process: subprocess.Popen[bytes]

    def ports(self) -> list[str]:
        """Every port on the server."""
        return _jack("jack_lsp").split()

    def connections(self, port: str) -> list[str]:
        """The ports ``port`` is connected to."""
        lines = _jack("jack_lsp", "-c", port).splitlines()
        return [line.strip() for line in lines[1:] if line.startswith(" ")]

    def connect(self, source: str, destination: str) -> None:
        """Connect two ports."""
        _jack("jack_connect", source, destination)

    def feed_input(self, source: str) -> str:
        """Make ``source`` the only thing feeding this process's newest input port; returns that port."""
        inputs = [p for p in self.ports() if re.fullmatch(rf"{TEST_CLIENT}:in_\d+", p)]
        if not inputs:
            raise AssertionError(f"{TEST_CLIENT} has no input port; open an AudioInput first")
        port = max(inputs, key=lambda p: int(p.rsplit("_", 1)[1]))
        for other in self.connections(port):
            _jack("jack_disconnect", other, port)
        self.connect(source, port)
        return port

    def wait_for_port(self, port: str, seconds: float = 10.0) -> None:
        """Wait until ``port`` exists; AssertionError after ``seconds``."""
        deadline = time.monotonic() + seconds
        while port not in self.ports():
            if time.monotonic() > deadline:
                raise AssertionError(f"JACK port {port} did not appear in {seconds:g} s")
            time.sleep(0.1)


def _jack(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=10).stdout


def need_tools(*tools: str) -> None:
    """Skip the test when one of ``tools`` is not installed."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install --no-install-recommends jackd2 zynaddsubfx)")


_shared: list[JackServer] = []  # one server for the whole session, however many modules import the fixture
_users = [0]


@pytest.fixture(scope="session")
def jack() -> Iterator[JackServer]:
    """A private JACK server (dummy driver, 48 kHz, 256-frame periods), started once for the session."""
    need_tools("jackd", "jack_wait", "jack_lsp", "jack_connect", "jack_disconnect")
    if not _shared:
        _shared.append(_start_jack())
    _users[0] += 1
    try:
        yield _shared[0]
    finally:
        _users[0] -= 1
        if _users[0] == 0:
            _stop_jack(_shared.pop())


def _start_jack() -> JackServer:
    name = f"synthmatch-test-{os.getpid()}"
    os.environ["JACK_DEFAULT_SERVER"] = name
    process = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", str(SAMPLE_RATE), "-p", "256"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = JackServer(name, process)
    try:
        subprocess.run(["jack_wait", "-w", "-t", "5"], check=True, capture_output=True, timeout=10)
        restart_portaudio(TEST_CLIENT)
    except BaseException:
        _stop_jack(server)
        raise
    return server


def _stop_jack(server: JackServer) -> None:
    sd._terminate()  # before jackd goes: PortAudio's JACK client aborts the interpreter otherwise
    stop(server.process)
    os.environ.pop("JACK_DEFAULT_SERVER", None)
    sd._initialize()


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Zyn:
    """A running headless ZynAddSubFX on the test's JACK server."""

    process: subprocess.Popen[bytes]
    osc_port: int


def zyn_value(zyn: Zyn, address: str) -> float:
    """The value ZynAddSubFX holds at ``address`` (it answers a message without arguments with the value)."""
    client = SimpleUDPClient("127.0.0.1", zyn.osc_port)
    try:
        client.send_message(address, [])
        while data := client.receive(2.0):
            message = OscMessage(data)
            if message.address == address:
                return float(message.params[0])
    finally:
        client.close()
    raise AssertionError(f"ZynAddSubFX did not answer {address}")


@pytest.fixture(scope="module")
def zynaddsubfx(jack: JackServer) -> Iterator[Zyn]:
    """ZynAddSubFX with JACK MIDI and audio, OSC on a free UDP port, its default patch: the rig sends the
    definition's [startup].osc messages (no preset of Zyn's banks: they are reserved for an independent check)."""
    need_tools("zynaddsubfx")
    port = free_udp_port()
    process = subprocess.Popen(
        ["zynaddsubfx", "-U", "-O", "jack", "-I", "jack", "-P", str(port), "-r", str(SAMPLE_RATE)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        jack.wait_for_port("zynaddsubfx:midi_input")
        jack.wait_for_port("zynaddsubfx:out_1")
        yield Zyn(process, port)
    finally:
        stop(process)


@pytest.fixture
def live_instrument(jack: JackServer) -> Iterator[str]:
    """`synthmatch synth` (the builtin synth as a JACK instrument) on the test's server; yields its client name.

    Its MIDI input is ``NAME:in``, its audio output ``NAME-audio:out_0``; it must exit 0 on SIGTERM.
    """
    name = "smsynth-test"
    process = subprocess.Popen(
        [sys.executable, "-m", "synthmatch", "synth", "--midi-api", "jack", "--name", name],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        errors = "" if "ready" in line or process.stderr is None else process.stderr.read()
        assert "ready" in line, f"synthmatch synth did not start: {line}{errors}"
        assert f"{name}:in" in line and f"{name}-audio:out_0" in line
        yield name
    finally:
        stop(process)
        assert process.returncode == 0, process.stderr.read() if process.stderr else ""


def spectral_centroid_hz(audio: npt.ArrayLike, sample_rate: int) -> float:
    """Magnitude-weighted mean frequency of ``audio[N]`` (the usual spectral centroid), in Hz."""
    magnitude = np.abs(np.fft.rfft(np.asarray(audio, dtype=np.float64)))
    freqs = np.fft.rfftfreq(len(np.asarray(audio)), 1 / sample_rate)
    return float((freqs * magnitude).sum() / max(magnitude.sum(), 1e-20))
