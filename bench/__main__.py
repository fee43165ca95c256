"""`python -m bench [NAME ...] [--OPTION ...]` runs the named benchmarks (default: all), each in its own process;
options (from the first argument that starts with "--") go to each of them (`python -m bench soak --matches 10`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))


def main(arguments: list[str]) -> int:
    """Run each ``bench_NAME`` module as a separate process, so one benchmark's state cannot slow another."""
    split = next((i for i, argument in enumerate(arguments) if argument.startswith("--")), len(arguments))
    names, options = arguments[:split], arguments[split:]
    chosen = [n if n.startswith("bench_") else f"bench_{n}" for n in names] or BENCHMARKS
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = [n for n in chosen if subprocess.run([sys.executable, "-m", f"bench.{n}", *options]).returncode != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


raise SystemExit(main(sys.argv[1:]))
