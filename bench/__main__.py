"""`python -m bench [NAME ...] [--OPTION ...]` runs the named benchmarks, each in its own process.

With no names it runs the quick ones (minutes each), never the slow ones (eval, real_sets, zyn_live: from 20
minutes to hours), which run only when named (`python -m bench zyn_live`). Options (from the first argument that
starts with "--") go to each benchmark (`python -m bench soak --matches 10`); `python -m bench --help` (or
`--list`) lists them all, and a name followed by `--help` shows that benchmark's options.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

FOLDER = Path(__file__).parent
BENCHMARKS = sorted(p.stem.removeprefix("bench_") for p in FOLDER.glob("bench_*.py"))
SLOW = {
    "eval": "about 1.7 h, 4-5 h with the nevergrad searches (256 + 48 targets, budgets 8 to 1024)",
    "real_sets": "about 20 min (the three real sets, 112 notes)",
    "zyn_live": "about 35 min (JACK, ZynAddSubFX and the daemon; 24 live targets, 2 methods, 44 s a match)",
}
"""Benchmarks that a bare `python -m bench` leaves out, with how long each takes at its defaults."""


def quick() -> list[str]:
    """The benchmarks a bare `python -m bench` runs: all but the slow ones."""
    return [name for name in BENCHMARKS if name not in SLOW]


def summary(name: str) -> str:
    """The first line of benchmark ``name``'s docstring, read without importing it."""
    docstring = ast.get_docstring(ast.parse((FOLDER / f"bench_{name}.py").read_text(encoding="utf-8"))) or ""
    return docstring.split("\n")[0]


def listing() -> str:
    """What `python -m bench --help` prints: how to call it, the quick benchmarks and the slow ones."""
    fast = [f"  {name:12} {summary(name)}" for name in quick()]
    slow = [f"  {name:12} {summary(name)}\n  {'':12} {SLOW[name]}" for name in BENCHMARKS if name in SLOW]
    return "\n".join([__doc__.strip(), "", "run with no names (quick):", *fast, "", "only when named (slow):", *slow])


def main(arguments: list[str]) -> int:
    """Run each chosen ``bench_NAME`` module as a separate process, so one benchmark's state cannot slow another."""
    if arguments[:1] in (["--help"], ["-h"], ["--list"]):
        print(listing())
        return 0
    split = next((i for i, argument in enumerate(arguments) if argument.startswith("--")), len(arguments))
    names, options = [n.removeprefix("bench_") for n in arguments[:split]], arguments[split:]
    chosen = names or quick()
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = [n for n in chosen if subprocess.run([sys.executable, "-m", f"bench.bench_{n}", *options]).returncode]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
