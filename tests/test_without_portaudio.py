"""A machine without libportaudio2: the daemon that renders in-process starts, answers and matches all the same.

The library is hidden from a daemon process by a ``sitecustomize`` that makes ``import sounddevice`` fail as it
does there; recording, which does need it, then fails with an error that says what to install.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_process import Daemon
from hidden_library import hide_library
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient


@pytest.fixture
def no_portaudio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PYTHONPATH for the processes started from here on: a folder whose sitecustomize hides PortAudio."""
    return hide_library(tmp_path, monkeypatch, ("sounddevice", "_sounddevice"),
                        'OSError("PortAudio library not found")')


@pytest.fixture
def daemon(no_portaudio: Path) -> Iterator[Daemon]:
    daemon = Daemon()
    yield daemon
    daemon.stop()


def replies_until(client: SimpleUDPClient, last: str) -> list[OscMessage]:
    """The daemon's replies up to and including the first at address ``last``."""
    replies = [OscMessage(client.receive(30.0))]
    while replies[-1].address not in (last, "/synthmatch/error"):
        replies.append(OscMessage(client.receive(30.0)))
    return replies


def test_the_hook_hides_portaudio(no_portaudio: Path) -> None:
    result = subprocess.run([sys.executable, "-c", "import sounddevice"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "OSError: PortAudio library not found" in result.stderr


def test_the_daemon_answers_and_matches_without_portaudio(daemon: Daemon, target_wav: Path) -> None:
    assert daemon.ping().address == "/synthmatch/pong"
    with SimpleUDPClient("127.0.0.1", daemon.port) as client:
        client.send_message("/synthmatch/target/load", [str(target_wav), 48])
        assert replies_until(client, "/synthmatch/target/loaded")[-1].address == "/synthmatch/target/loaded"
        client.send_message("/synthmatch/match/start", [4])
        done = replies_until(client, "/synthmatch/match/done")
        assert done[-1].address == "/synthmatch/match/done" and done[-1].params[0] == 4
        assert [reply.address for reply in done[:-1]] == ["/synthmatch/progress"] * 4

        client.send_message("/synthmatch/target/record", [0.5])
        failed = OscMessage(client.receive(30.0))
    assert failed.address == "/synthmatch/error" and failed.params[0] == "/synthmatch/target/record"
    assert "PortAudio" in failed.params[1] and "libportaudio2" in failed.params[1]
    assert daemon.ping().address == "/synthmatch/pong"  # and it keeps running
