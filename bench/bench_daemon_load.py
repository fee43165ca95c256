"""How long the daemon takes to answer a ping while it loads a target (target: under 50 ms, whatever the file).

Run with ``.venv/bin/python -m bench.bench_daemon_load``. A real ``synthmatch daemon`` on a free port of
127.0.0.1; for each file, one client sends ``target/load`` while another pings every 5 ms until the load's reply
(``target/loaded`` or an error) comes. The files: an ordinary 1 s target, the largest ones accepted (300 s of
48 kHz stereo; 6 s of 384 kHz, 8 channels), and hostile ones (a 500 MB WAV whose header claims 2**31 - 1 Hz,
and a bundle of three loads of it).
"""

from __future__ import annotations

import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg

from bench.live_daemon import read_banner
from bench.report import report

#: Longest a ping may wait for its pong during a load, in seconds.
TARGET_PING_S = 0.050
#: Time between two pings, in seconds.
PING_EVERY_S = 0.005
COLUMNS = ("file", "size MB", "reply", "load s", "pings", "median ping ms", "max ping ms", "target ms")


def wav_header(frames: int, sample_rate: int, channels: int) -> bytes:
    """The 44-byte header of a 16-bit PCM WAV of ``frames`` frames."""
    size = frames * channels * 2
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, (sample_rate * channels * 2) % 2**32, channels * 2, 16)
    return b"RIFF" + struct.pack("<I", (36 + size) % 2**32) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", size)


def write_tone(path: Path, seconds: float, sample_rate: int, channels: int) -> Path:
    """A WAV of a 220 Hz tone, written in blocks so that a long one needs little memory."""
    frames = int(seconds * sample_rate)
    with path.open("wb") as file:
        file.write(wav_header(frames, sample_rate, channels))
        block = sample_rate  # one second at a time
        for start in range(0, frames, block):
            t = np.arange(start, min(start + block, frames)) / sample_rate
            tone = (0.5 * np.sin(2 * np.pi * 220.0 * t) * 32767).astype("<i2")
            file.write(np.repeat(tone[:, None], channels, axis=1).tobytes())
    return path


def write_hostile(path: Path) -> Path:
    """500 MB (sparse) whose header claims 2**31 - 1 Hz."""
    with path.open("wb") as file:
        file.write(wav_header(125_000_000, 2**31 - 1, 1))
        file.truncate(500_000_000)
    return path


def start_daemon(*options: str) -> tuple[subprocess.Popen[str], int]:
    """A `synthmatch daemon` on a free port (with ``options``), and the port from its banner."""
    process = subprocess.Popen([sys.executable, "-m", "synthmatch", "daemon", "--osc-port", "0", *options],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    _, port = read_banner(process.stdout)
    if port is None:
        raise RuntimeError("the daemon did not start")
    return process, port


def measure(port: int, datagram: bytes, replies_expected: int) -> dict[str, Any]:
    """Send ``datagram`` (loads) and ping until ``replies_expected`` load replies came: the times and last reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as loader, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as pinger:
        loader.setblocking(False)
        pinger.settimeout(5.0)
        ping = build_msg("/synthmatch/ping").dgram
        began = time.perf_counter()
        loader.sendto(datagram, ("127.0.0.1", port))
        replies: list[OscMessage] = []
        pings: list[float] = []
        while len(replies) < replies_expected:
            sent = time.perf_counter()
            pinger.sendto(ping, ("127.0.0.1", port))
            pinger.recv(65536)
            pings.append(time.perf_counter() - sent)
            try:
                while True:
                    replies.append(OscMessage(loader.recv(65536)))
            except BlockingIOError:
                pass
            time.sleep(PING_EVERY_S)
        load_s = time.perf_counter() - began
    last = replies[-1]
    return {"reply": last.address.rsplit("/", 1)[-1] if last.address != "/synthmatch/error" else
            "error: " + str(last.params[1])[:60], "load s": load_s, "pings": len(pings),
            "median ping ms": 1000 * statistics.median(pings), "max ping ms": 1000 * max(pings)}


def main() -> None:
    """Measure each file and write the report."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        files = {
            "1 s, 16 kHz mono": write_tone(folder / "short.wav", 1.0, 16000, 1),
            "300 s, 48 kHz stereo": write_tone(folder / "long.wav", 300.0, 48000, 2),
            "6 s, 384 kHz, 8 channels": write_tone(folder / "wide.wav", 6.0, 384000, 8),
            "500 MB claiming 2**31-1 Hz": write_hostile(folder / "hostile.wav"),
        }
        process, port = start_daemon()
        rows = []
        try:
            for name, path in files.items():
                load = build_msg("/synthmatch/target/load", [str(path)])
                rows.append({"file": name, "size MB": path.stat().st_size / 1e6, **measure(port, load.dgram, 1)})
            bundle = OscBundleBuilder(IMMEDIATELY)
            for _ in range(3):
                bundle.add_content(build_msg("/synthmatch/target/load", [str(files["500 MB claiming 2**31-1 Hz"])]))
            rows.append({"file": "bundle of 3 hostile loads", "size MB": 1500.0,
                         **measure(port, bundle.build().dgram, 3)})
        finally:
            process.terminate()
            process.wait(10)
    for row in rows:
        row["target ms"] = 1000 * TARGET_PING_S
    report("daemon_load", rows, COLUMNS, target_ping_s=TARGET_PING_S)


if __name__ == "__main__":
    main()
