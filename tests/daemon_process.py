"""A `synthmatch daemon` process for tests, shared by the daemon and live-view tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

from bench.live_daemon import read_banner

DAEMON = [sys.executable, "-m", "synthmatch", "daemon"]
SEND = [sys.executable, "-m", "synthmatch", "send"]


class Daemon:
    """A `synthmatch daemon` process on a free port, read from its startup banner; stopped by its PID."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([*DAEMON, "--osc-port", "0", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.banner, port = read_banner(self.process.stdout)
        if port is not None:
            self.port = port
            return
        raise AssertionError(f"the daemon did not start: {self.process.wait(10)}: {self.process.stderr.read()}")

    def ping(self) -> OscMessage:
        with SimpleUDPClient("127.0.0.1", self.port) as client:
            client.send_message("/synthmatch/ping", [])
            return OscMessage(client.receive(5.0))

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, float, str]:
        """Send ``signum``; returns the exit status, how long it took, and stderr."""
        began = time.monotonic()
        self.process.send_signal(signum)
        try:
            _, stderr = self.process.communicate(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        return self.process.returncode, time.monotonic() - began, stderr
