"""ZynAddSubFX matched live: the agent at 32 steps against the search at 32 renders, on the same held-out recordings.

Run with ``.venv/bin/python -m bench zyn_live [--dataset DIR] [--targets N] [--methods agent,cmaes] [--budget K]
[--model DIR]``. The targets are recordings of a ZynAddSubFX data set (default ``/tmp/zyn-dataset``, seed 7, which
``models/zynaddsubfx`` never saw): its patches numbered 0, 10, 20, ... (the held-out rule of ``--dataset``
training), written as WAV files with their notes. The bench starts a JACK server of its own (dummy driver, 48 kHz,
its own name), a headless ZynAddSubFX on it (OSC on a free UDP port of 127.0.0.1, its default patch: the rig sends
the definition's saw voice, no bank preset), and a ``synthmatch daemon --render live`` joined to it, then for each
target sends ``target/load PATH NOTE`` and ``match/start BUDGET METHOD`` per method, and ``patch/undo`` after each
match so that the next one starts from the default patch again. Everything is stopped by its PID.

Results are kept per target and method in ``bench/results/zyn_live-targets.json`` (under a lock), so methods can be
run one at a time (``--methods cmaes`` now, ``--methods agent`` later) or a run split in two (``--skip``) and the
pairs come together; ``--report-only`` summarises them. The table (``bench/results/zyn_live.json``) gives each
method's median, and the per-target ratio agent / search (median), the share of targets where the agent ended closer and
the two-sided sign test. Skipped with a message when jackd or zynaddsubfx is missing.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.live_daemon import DaemonError, LiveDaemon, stop_process
from bench.report import RESULTS, report
from synthmatch.datasets import open_dataset, patch_for, read_manifest
from synthmatch.definitions import find_definition
from synthmatch.matched_audio import write_audio

NAME = "zyn_live"
TOOLS = ("jackd", "jack_wait", "jack_lsp", "zynaddsubfx")
#: Seconds to wait for any one reply of the daemon (a live render takes 1.2 to 1.4 s).
REPLY_S = 30.0
COLUMNS = ("method", "budget", "targets", "median", "q1", "q3", "ratio vs search", "difference [95% CI]",
           "closer than search", "sign p")


def sign_test_p(wins: int, losses: int) -> float:
    """Two-sided sign test: the chance of a split at least this uneven between ``wins`` and ``losses`` by coin flips."""
    n, k = wins + losses, min(wins, losses)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def median_difference(differences: list[float], resamples: int = 4000) -> str:
    """The median per-target difference and its bootstrap 95% interval (seeded, so a rerun prints the same)."""
    values = np.asarray(differences)
    draws = np.random.default_rng(0).choice(values, size=(resamples, len(values)))
    low, high = np.percentile(np.median(draws, axis=1), [2.5, 97.5])
    return f"{np.median(values):+.3f} [{low:+.3f}, {high:+.3f}]"


def write_targets(dataset_dir: Path, count: int, folder: Path) -> list[dict[str, Any]]:
    """The first ``count`` recordings numbered 0, 10, 20, ... of the data set, as WAVs in ``folder``."""
    definition = find_definition("zynaddsubfx")
    _, notes, audio, index = open_dataset(dataset_dir, definition).load_all()
    chosen = [i for i in np.argsort(index) if index[i] % 10 == 0][:count]
    targets = []
    for i in chosen:
        path = folder / f"patch-{int(index[i]):05d}.wav"
        write_audio(path, audio[i], definition.note.sample_rate)
        targets.append({"patch": int(index[i]), "note": int(notes[i]), "path": str(path)})
    return targets


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: str, env: dict[str, str], seconds: float = 20.0) -> None:
    """Wait until the JACK port ``port`` exists; RuntimeError after ``seconds``."""
    deadline = time.monotonic() + seconds
    while port not in subprocess.run(["jack_lsp"], capture_output=True, text=True, env=env).stdout.split():
        if time.monotonic() > deadline:
            raise RuntimeError(f"JACK port {port} did not appear in {seconds:g} s")
        time.sleep(0.2)


def start_daemon(env: dict[str, str], zyn_port: int, model: str | None) -> LiveDaemon:
    """A `synthmatch daemon --render live` joined to ZynAddSubFX (its MIDI in, its audio out, its OSC port)."""
    options = ["--model", model] if model else []
    return LiveDaemon("--synth", "zynaddsubfx", "--midi-port", "zynaddsubfx:midi_input", "--osc-target",
                      f"127.0.0.1:{zyn_port}", "--audio-device", "zynaddsubfx", *options, env=env, reply_s=REPLY_S)


def match(daemon: LiveDaemon, budget: int, method: str) -> dict[str, Any]:
    """One match from the default patch: its best distance and seconds; then undo, back to the default patch."""
    began = time.monotonic()
    done = daemon.ask("/synthmatch/match/start", budget, method, until="/synthmatch/match/done")[-1]
    seconds = time.monotonic() - began
    try:
        daemon.ask("/synthmatch/patch/undo")
    except DaemonError as err:  # the match kept the start patch: nothing to undo, the next starts there too
        if "nothing to undo" not in str(err):
            raise
    return {"distance": float(done.params[1]), "steps": int(done.params[0]), "seconds": seconds}


def run_live(targets: list[dict[str, Any]], methods: list[str], budget: int, model: str | None) -> None:
    """Start JACK, Zyn and the daemon; match every target with every method, keeping each outcome; stop them all."""
    env = {**os.environ, "JACK_DEFAULT_SERVER": f"synthmatch-bench-{os.getpid()}"}
    started: list[subprocess.Popen[Any]] = []
    daemon: LiveDaemon | None = None
    try:
        started.append(subprocess.Popen(["jackd", "-n", env["JACK_DEFAULT_SERVER"], "-d", "dummy", "-r", "48000",
                                         "-p", "256"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        subprocess.run(["jack_wait", "-w", "-t", "10"], check=True, capture_output=True, env=env, timeout=20)
        zyn_port = free_udp_port()
        started.append(subprocess.Popen(["zynaddsubfx", "-U", "-O", "jack", "-I", "jack", "-P", str(zyn_port), "-r",
                                         "48000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        wait_for_port("zynaddsubfx:midi_input", env)
        wait_for_port("zynaddsubfx:out_1", env)
        daemon = start_daemon(env, zyn_port, model)
        print("".join(daemon.banner).strip(), flush=True)
        for target in targets:
            key = str(target["patch"])
            daemon.ask("/synthmatch/target/load", target["path"], target["note"])
            for method in methods:
                outcome = match(daemon, budget, method)
                save_outcome(key, f"{method}@{budget}", outcome)
                print(f"patch {key} note {target['note']}: {method}@{budget} {outcome['distance']:.3f} "
                      f"({outcome['seconds']:.0f} s)", flush=True)
    finally:
        if daemon is not None:
            daemon.stop()
        for process in reversed(started):
            stop_process(process)


def save_outcome(key: str, method: str, outcome: dict[str, Any]) -> None:
    """Add one target's outcome to the per-target file, under a lock (two runs may share it)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{NAME}-targets.json"
    with (Path(tempfile.gettempdir()) / f"synthmatch-bench-{NAME}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = read_outcomes()
        results.setdefault(key, {})[method] = outcome
        path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


def read_outcomes() -> dict[str, Any]:
    """Every target's outcomes so far: patch number -> "method@budget" -> distance, steps, seconds."""
    path = RESULTS / f"{NAME}-targets.json"
    return dict(json.loads(path.read_text())) if path.is_file() else {}


def summary_rows(results: dict[str, Any], budget: int, search: str) -> list[dict[str, Any]]:
    """Each method's median over its targets, and against ``search`` on the targets both matched."""
    methods = sorted({m for per in results.values() for m in per if m.endswith(f"@{budget}")})
    base = f"{search}@{budget}"
    rows = []
    for method in methods:
        values = [per[method]["distance"] for per in results.values() if method in per]
        q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
        row: dict[str, Any] = {"method": method.split("@")[0], "budget": budget, "targets": len(values),
                               "median": statistics.median(values), "q1": q1, "q3": q3}
        paired = [(per[method]["distance"], per[base]["distance"]) for per in results.values()
                  if method in per and base in per]
        if method != base and paired:
            wins = sum(a < b for a, b in paired)
            losses = sum(a > b for a, b in paired)
            row.update({"ratio vs search": statistics.median(a / b for a, b in paired),
                        "difference [95% CI]": median_difference([a - b for a, b in paired]),
                        "closer than search": f"{wins}/{len(paired)}", "sign p": sign_test_p(wins, losses)})
        rows.append(row)
    return rows


def per_target_rows(results: dict[str, Any], dataset_dir: Path) -> list[dict[str, Any]]:
    """One row per target and method (the rows of ``synthmatch eval``'s JSON where they apply), notes included."""
    definition = find_definition("zynaddsubfx")
    seed = read_manifest(dataset_dir).seed
    rows = []
    for key in sorted(results, key=int):
        for method, outcome in sorted(results[key].items()):
            name, budget = method.split("@")
            rows.append({"method": name, "budget": int(budget), "target": f"patch-{int(key):05d}",
                         "note": patch_for(seed, int(key), definition)[1], "distance": outcome["distance"],
                         "steps": outcome["steps"], "seconds": outcome["seconds"]})
    return rows


def main() -> None:
    """Parse the options, run the live matches (or skip), and report."""
    parser = argparse.ArgumentParser(prog="python -m bench zyn_live", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=Path("/tmp/zyn-dataset"))
    parser.add_argument("--targets", type=int, default=24, help="held-out recordings to match (default 24)")
    parser.add_argument("--skip", type=int, default=0, help="leave out the first K of them (to split a run in two)")
    parser.add_argument("--report-only", action="store_true", help="only summarise the results kept so far")
    parser.add_argument("--methods", default="agent,cmaes", help="comma-separated (default agent,cmaes)")
    parser.add_argument("--budget", type=int, default=32, help="agent steps / search renders (default 32)")
    parser.add_argument("--model", default=None, help="model folder (default: the shipped models/zynaddsubfx)")
    parser.add_argument("--search", default="cmaes", help="the search the agent is compared with (default cmaes)")
    args = parser.parse_args()
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        print(f"zyn_live skipped: needs {', '.join(missing)} (apt-get install --no-install-recommends jackd2 "
              f"zynaddsubfx)")
        return
    if not (args.dataset / "manifest.json").is_file():
        print(f"zyn_live skipped: no data set at {args.dataset} (record one with `synthmatch dataset --synth "
              f"zynaddsubfx --patches 400 --seed 7 --out {args.dataset} ...`, docs/datasets.md)")
        return
    if not args.report_only:
        with tempfile.TemporaryDirectory() as scratch:
            targets = write_targets(args.dataset, args.skip + args.targets, Path(scratch))[args.skip:]
            began = time.monotonic()
            run_live(targets, args.methods.split(","), args.budget, args.model)
            print(f"{len(targets)} targets in {time.monotonic() - began:.0f} s")
    results = read_outcomes()
    report(NAME, summary_rows(results, args.budget, args.search), COLUMNS, dataset=str(args.dataset),
           budget=args.budget, search=args.search, targets=per_target_rows(results, args.dataset))


if __name__ == "__main__":
    main()
