"""Real third-party OSC controllers drive a real daemon: liblo's ``oscsend`` / ``oscdump`` (Debian liblo-tools) and
the example Pure Data patch run headless (``pd -nogui``, Debian puredata-core).

Everything goes over 127.0.0.1, and every process is started and stopped by its PID. ``oscdump`` cannot be told an
address to listen on (liblo takes a host in its URL for multicast): it listens on a free port of every interface
for the few seconds of a test, and only this machine sends to it.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_process import DAEMON, Daemon
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

from synthmatch.daemon.osc_subscribers import MAX_SUBSCRIBERS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PATCH = ROOT / "examples" / "synthmatch.pd"


def needs(tool: str, package: str) -> str:
    """The path of ``tool``, or skip naming the Debian package that brings it (scripts/setup --dev installs it)."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed: apt-get install {package} (scripts/setup --dev)")
    return path


def free_udp_port() -> int:
    """A UDP port of 127.0.0.1 that nothing uses now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Dump:
    """``oscdump -L PORT``: every message it receives, one line each ("/address types args...")."""

    def __init__(self) -> None:
        self.port = free_udp_port()
        self.process = subprocess.Popen([needs("oscdump", "liblo-tools"), "-L", str(self.port)],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lines: list[str] = []
        self._partial = b""

    def until(self, pattern: str, timeout: float = 20.0) -> list[str]:
        """Lines read so far, once one matches ``pattern`` (a regex, searched); fails after ``timeout`` s."""
        assert self.process.stdout is not None
        stdout = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while not any(re.search(pattern, line) for line in self.lines):
            left = deadline - time.monotonic()
            assert left > 0, f"oscdump on {self.port} got no {pattern!r}; it got {self.lines}"
            if select.select([stdout], [], [], left)[0]:
                chunk = os.read(stdout, 65536)
                assert chunk, f"oscdump on {self.port} ended; it got {self.lines}"
                *whole, self._partial = (self._partial + chunk).split(b"\n")
                self.lines += [line.decode().split(" ", 1)[1].strip() for line in whole]  # without the time tag
        return self.lines

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def oscsend(port: int, address: str, types: str = "", *args: object) -> None:
    """``oscsend 127.0.0.1 PORT ADDRESS TYPES ARGS...``: one message from a port that hears no reply."""
    subprocess.run([needs("oscsend", "liblo-tools"), "127.0.0.1", str(port), address, types, *map(str, args)],
                   check=True, timeout=10)


@pytest.fixture()
def dumps() -> Iterator[list[Dump]]:
    started: list[Dump] = []
    yield started
    for dump in started:
        dump.stop()


@pytest.fixture()
def ports_that_never_read() -> Iterator[list[int]]:
    """Enough open ports of 127.0.0.1 to fill the subscriber list beside two oscdumps; they read nothing."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(MAX_SUBSCRIBERS - 2)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    yield [int(sock.getsockname()[1]) for sock in sockets]
    for sock in sockets:
        sock.close()


def test_oscdump_hears_a_match_that_oscsend_starts(dumps: list[Dump], ports_that_never_read: list[int],
                                                   target_wav: Path) -> None:
    dumps += [Dump(), Dump()]
    notified, subscriber = dumps
    daemon = Daemon("--notify", f"127.0.0.1:{notified.port}")
    try:
        assert any(f"notifying   127.0.0.1:{notified.port}" in line for line in daemon.banner)
        oscsend(daemon.port, "/synthmatch/subscribe", "i", subscriber.port)
        subscriber.until(rf"^/synthmatch/subscribed sii \"127.0.0.1\" {subscriber.port} 2$")
        oscsend(daemon.port, "/synthmatch/target/load", "si", target_wav, 48)
        subscriber.until(r"^/synthmatch/target/loaded ")
        oscsend(daemon.port, "/synthmatch/match/start", "i", 4)
        for dump in (subscriber, notified):  # the subscriber and the --notify target hear the same
            heard = dump.until(r"^/synthmatch/match/done ifsfff 4 ")
            assert [line.split()[2] for line in heard if line.startswith("/synthmatch/progress")] == ["1", "2", "3",
                                                                                                      "4"]
        assert re.search(r" \"(exact|close|near|far)\"( [-+\d.e]+){3}$", heard[-1])  # note s, gain dB, start

        for port in ports_that_never_read:  # fill the list, then one more is refused; the error is heard too
            oscsend(daemon.port, "/synthmatch/subscribe", "i", port)
        oscsend(daemon.port, "/synthmatch/subscribe", "i", free_udp_port())
        refused = subscriber.until(r"^/synthmatch/error ")[-1]
        assert f"at most {MAX_SUBSCRIBERS} subscribers" in refused

        subscriber.stop()  # it goes away: its sends fail, and it is dropped; the --notify target is kept
        dumps.remove(subscriber)
        for _ in range(8):
            oscsend(daemon.port, "/synthmatch/ping")
        notified.until(r"^/synthmatch/pong ")
        assert daemon.ping().address == "/synthmatch/pong"
    finally:
        status, _, stderr = daemon.stop()
    assert status == 0
    assert f"dropped subscriber 127.0.0.1:{subscriber.port} after 3 failed sends" in stderr
    assert f"dropped subscriber 127.0.0.1:{notified.port}" not in stderr


def test_a_bad_notify_target_ends_the_daemon_with_a_clear_error() -> None:
    result = subprocess.run([*DAEMON, "--osc-port", "0", "--notify", "nosuchhost.invalid:9100"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "--notify nosuchhost.invalid:9100: cannot find host 'nosuchhost.invalid'" in result.stderr.splitlines()[-1]


DRIVER = """#N canvas 0 50 450 300 12;
#X obj 20 20 synthmatch {daemon_port} {listen_port};
#X obj 20 60 route subscribed target match;
#X msg 20 100 load {target} 48;
#X obj 150 100 route loaded;
#X msg 150 130 start 8;
#X obj 300 100 route done;
#X msg 300 130 \\; pd quit;
#X connect 0 0 1 0;
#X connect 1 0 2 0;
#X connect 2 0 0 0;
#X connect 1 1 3 0;
#X connect 3 0 4 0;
#X connect 4 0 0 0;
#X connect 1 2 5 0;
#X connect 5 0 6 0;
"""
"""A driver for the example patch, as a user's patch would use it: once subscribed it loads the target, once loaded
it starts an 8-step match, once done it quits Pd."""


def test_the_example_pd_patch_runs_a_match_headless(target_wav: Path, tmp_path: Path) -> None:
    pd = needs("pd", "puredata-core")
    daemon = Daemon()
    try:
        listen_port = free_udp_port()
        driver = tmp_path / "driver.pd"
        driver.write_text(DRIVER.format(daemon_port=daemon.port, listen_port=listen_port, target=target_wav))
        result = subprocess.run([pd, "-nogui", "-noaudio", "-nomidi", "-path", str(EXAMPLE_PATCH.parent),
                                 "-open", str(driver)], capture_output=True, text=True, timeout=60)
        printed = result.stdout + result.stderr
        assert result.returncode == 0, printed
        assert "couldn't create" not in printed, printed  # every object of the patch exists in this Pd
        assert f"synthmatch: subscribed 127.0.0.1 {listen_port} 1" in printed
        assert f"synthmatch: target loaded {target_wav} 1" in printed
        steps = [int(m) for m in re.findall(r"^synthmatch: progress (\d+) [\d.]+$", printed, re.MULTILINE)]
        assert steps == list(range(1, 9)), printed
        done = r"^synthmatch: match done 8 [\d.]+ (exact|close|near|far)( [-+\d.e]+){3}$"  # ... note s, gain, start
        assert re.search(done, printed, re.MULTILINE)
        with SimpleUDPClient("127.0.0.1", daemon.port) as client:  # the daemon ran the match Pd started
            client.send_message("/synthmatch/status", [])
            status = OscMessage(client.receive(5.0))
        assert status.params[:2] == ["idle", 8]
    finally:
        daemon.stop()

