"""A `synthmatch daemon --render live` process driven over OSC on 127.0.0.1: for bench zyn_live and the live tests.

It starts on a free OSC port (read from its banner), is asked one command at a time from one client socket until
the reply wanted comes, and is stopped by its PID. Its log (stderr) goes to a temporary file rather than a pipe,
so that a long run cannot fill the pipe and stall it, and the log can be read at the end.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from typing import Any

from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

#: Seconds to wait for any one reply by default (a live render takes 1.2 to 1.4 s, a step one render and inference).
REPLY_S = 30.0
#: Seconds a process has to exit after SIGTERM before it is killed.
STOP_S = 15.0


class DaemonError(RuntimeError):
    """The daemon did not start, did not answer in time, or answered ``/synthmatch/error``."""


def stop_process(process: subprocess.Popen[Any], seconds: float = STOP_S) -> None:
    """SIGTERM ``process`` by its PID, SIGKILL if it has not exited after ``seconds``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def read_banner(lines: Iterable[str]) -> tuple[list[str], int | None]:
    """A starting daemon's banner from its stdout ``lines``, up to "stop with ..." (its last), and its OSC port.

    The port is None, and the banner whatever came, when the output ends first: the daemon did not start.
    """
    banner: list[str] = []
    port = None
    for line in lines:
        banner.append(line)
        if "udp://127.0.0.1:" in line:
            port = int(line.split("udp://127.0.0.1:")[1].split()[0])
        if line.strip().startswith("stop with"):
            return banner, port
    return banner, None


class LiveDaemon:
    """`synthmatch daemon --osc-port 0 --render live --midi-api jack ARGS...`, driven from one OSC client socket."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, reply_s: float = REPLY_S) -> None:
        self.reply_s = reply_s
        self.logged = ""
        """What the daemon logged, once it was stopped."""
        self.log = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed by stop(), kept till then)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "synthmatch", "daemon", "--osc-port", "0", "--render", "live", "--midi-api", "jack",
             *args],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env,
        )
        assert self.process.stdout is not None
        self.client: SimpleUDPClient | None = None
        self.banner, port = read_banner(self.process.stdout)
        """The lines the daemon printed on starting, up to "stop with ..." (its last)."""
        if port is not None:
            self.port = port
            self.client = SimpleUDPClient("127.0.0.1", port)
            return
        _, log = self.stop()
        raise DaemonError(f"the daemon did not start:\n{''.join(self.banner)}{log}")

    def ask(self, address: str, *args: object, until: str | None = None) -> list[OscMessage]:
        """Send one command; the replies up to the one at ``until`` (default: the first reply's address).

        DaemonError when a reply does not come within ``reply_s`` or the daemon answers ``/synthmatch/error``.
        """
        if self.client is None:
            raise DaemonError(f"{address}: the daemon was stopped")
        client = self.client
        client.send_message(address, list(args))
        replies: list[OscMessage] = []
        while not replies or replies[-1].address != (until or replies[0].address):
            data = client.receive(self.reply_s)
            if not data:
                raise DaemonError(f"no reply to {address} within {self.reply_s:g} s after "
                                  f"{[m.address for m in replies]}")
            replies.append(OscMessage(data))
            if replies[-1].address == "/synthmatch/error":
                raise DaemonError(f"{address}: {replies[-1].params}")
        return replies

    def stop(self, seconds: float = STOP_S) -> tuple[int, str]:
        """SIGTERM by PID (SIGKILL after ``seconds``); the exit status and everything the daemon logged.

        Stopping again does nothing more and returns the same.
        """
        if self.client is not None:
            self.client.close()
            self.client = None
        stop_process(self.process, seconds)
        if self.process.stdout is not None:
            self.process.stdout.close()
        if not self.log.closed:
            self.log.seek(0)
            self.logged = self.log.read()
            self.log.close()
        return self.process.returncode, self.logged
