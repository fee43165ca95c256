"""A long session against one daemon: does it leak memory, descriptors or threads, or slow down, match after match?

Run ``.venv/bin/python -m bench soak [--matches N]`` (default 100). A real ``synthmatch daemon`` (the embedded
default: built-in synth, shipped model) on a free port of 127.0.0.1, driven over OSC as a user would: each match
loads one of four targets, runs a 32-step match, saves the best patch and asks the status. After every match the
daemon's resident memory, open file descriptors and threads are read from /proc (Linux). The table sets the first
tenth of the matches against the middle and the last tenth; the JSON also holds every match's figures.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from pedalboard.io import AudioFile
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg

from bench.bench_daemon_load import start_daemon
from bench.report import report
from synthmatch.params import quantise_all
from synthmatch.synths import open_synth

COLUMNS = ("matches", "median match ms", "max match ms", "rss MB", "open fds", "threads")
DEFAULT_MATCHES = 100
MATCH_STEPS = 32
TARGETS = 4
#: Longest wait for one reply, in seconds.
REPLY_TIMEOUT_S = 30.0


def write_targets(folder: Path) -> list[Path]:
    """TARGETS WAVs of random built-in patches at note 48, the synth's own sounds."""
    synth = open_synth("builtin")
    rng = np.random.default_rng(7)
    paths = []
    for index in range(TARGETS):
        patch = quantise_all(synth.definition, rng.random(len(synth.parameters)))
        path = folder / f"target-{index}.wav"
        with AudioFile(str(path), "w", samplerate=synth.sample_rate, num_channels=1) as file:
            file.write(synth.render(patch[None], 48))
        paths.append(path)
    return paths


def ask(client: socket.socket, port: int, address: str, *args: Any, until: str) -> OscMessage:
    """Send ``address args`` and read replies until one to ``until``; an error reply ends the benchmark."""
    client.sendto(build_msg(address, list(args)).dgram, ("127.0.0.1", port))
    while True:
        reply = OscMessage(client.recv(65536))
        if reply.address == "/synthmatch/error":
            raise RuntimeError(f"{address}: {reply.params}")
        if reply.address == until:
            return reply


def resources(pid: int) -> dict[str, float]:
    """The process's resident memory in MB, open file descriptors and threads, from /proc."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {"rss MB": int(status["VmRSS"].split()[0]) / 1024, "open fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": int(status["Threads"])}


def one_match(client: socket.socket, port: int, target: Path, name: str) -> float:
    """Load ``target``, match it, save the best patch as ``name`` and ask the status; the match's seconds."""
    ask(client, port, "/synthmatch/target/load", str(target), until="/synthmatch/target/loaded")
    began = time.perf_counter()
    ask(client, port, "/synthmatch/match/start", MATCH_STEPS, until="/synthmatch/match/done")
    seconds = time.perf_counter() - began
    ask(client, port, "/synthmatch/patch/save", name, until="/synthmatch/patch/saved")
    ask(client, port, "/synthmatch/status", until="/synthmatch/status")
    return seconds


def summary(label: str, samples: list[dict[str, float]]) -> dict[str, Any]:
    """One table row over ``samples``: match times (median, max) and the resources after the last of them."""
    times = [1000 * sample["seconds"] for sample in samples]
    return {"matches": label, "median match ms": statistics.median(times), "max match ms": max(times),
            **{key: samples[-1][key] for key in ("rss MB", "open fds", "threads")}}


def main(matches: int) -> None:
    """Run ``matches`` matches against one daemon and report the first tenth against the last."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        targets = write_targets(folder)
        process, port = start_daemon("--patch-dir", str(folder / "patches"))
        samples: list[dict[str, float]] = []
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                client.settimeout(REPLY_TIMEOUT_S)
                start = {"seconds": 0.0, **resources(process.pid)}
                for index in range(matches):
                    seconds = one_match(client, port, targets[index % TARGETS], f"soak-{index % TARGETS}")
                    samples.append({"match": index + 1, "seconds": seconds, **resources(process.pid)})
        finally:
            process.terminate()
            exit_status = process.wait(10)
    tenth = max(1, matches // 10)
    middle = (matches - tenth) // 2
    first, last = samples[:tenth], samples[-tenth:]
    rows = [summary(f"{begin + 1}..{begin + tenth}", samples[begin:begin + tenth])
            for begin in (0, middle, matches - tenth)]  # the middle tenth tells warm-up from a steady leak
    growth = {key: last[-1][key] - first[-1][key] for key in ("rss MB", "open fds", "threads")}
    print(f"daemon at start: {start['rss MB']:.1f} MB, {start['open fds']} fds, {start['threads']} threads; "
          f"from the first tenth to the last: {growth}; exit status {exit_status}")
    report("soak", rows, COLUMNS, matches=matches, steps=MATCH_STEPS, at_start=start, growth=growth,
           exit_status=exit_status, samples=samples)


def parse_args() -> argparse.Namespace:
    """``--matches N``."""
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__.splitlines()[0])
    parser.add_argument("--matches", type=int, default=DEFAULT_MATCHES, help="matches to run (default: %(default)s)")
    args = parser.parse_args()
    if args.matches < 1:
        parser.error(f"--matches must be 1 or more, got {args.matches}")
    return args


if __name__ == "__main__":
    main(parse_args().matches)
