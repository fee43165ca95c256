"""`python -m bench`: with no names only the quick benchmarks, the slow ones when named, its listing says which."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLOW = {"eval", "real_sets", "zyn_live"}


def bench(*arguments: str) -> subprocess.CompletedProcess[str]:
    """`python -m bench ARGUMENTS` from the checkout, in a process of its own (a benchmark pins itself to a core)."""
    return subprocess.run([sys.executable, "-m", "bench", *arguments], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def listed(text: str, heading: str) -> set[str]:
    """The benchmark names the listing gives under ``heading``."""
    section = text.split(heading, 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^  (\w+) ", section, flags=re.MULTILINE))


def test_the_listing_puts_every_benchmark_in_one_group_and_the_slow_ones_apart() -> None:
    result = bench("--help")
    assert result.returncode == 0, result.stderr
    quick = listed(result.stdout, "run with no names (quick):")
    slow = listed(result.stdout, "only when named (slow):")
    every = {p.stem.removeprefix("bench_") for p in (ROOT / "bench").glob("bench_*.py")}
    assert slow == SLOW and quick == every - SLOW
    assert bench("--list").stdout == result.stdout


def test_an_unknown_name_is_refused_with_the_known_ones_and_nothing_runs() -> None:
    result = bench("synth", "zyn-live")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "unknown benchmark(s) zyn-live; known: " + ", ".join(sorted(
            p.stem.removeprefix("bench_") for p in (ROOT / "bench").glob("bench_*.py")))
    ]


def test_a_slow_benchmark_runs_when_named() -> None:
    """Named, zyn_live runs (here only its --help: the cheapest call that imports it whole)."""
    result = bench("zyn_live", "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: python -m bench zyn_live" in result.stdout


def test_importing_a_bench_helper_leaves_the_process_its_cores_and_threads() -> None:
    # The tests import bench.live_daemon and bench.ray_cluster: their servers must keep every core.
    probe = "import os, bench.ray_cluster; print(len(os.sched_getaffinity(0)), os.environ.get('OMP_NUM_THREADS'))"
    plain = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin"})
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.split() == [str(len(os.sched_getaffinity(0))), "None"]
