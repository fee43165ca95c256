"""Shared output of the benchmarks: a table on screen and a JSON file with the machine it ran on."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synthmatch.machine import describe_machine

RESULTS = Path(__file__).resolve().parent / "results"


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as an aligned text table; floats with 4 significant digits."""
    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    body = [[cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


def report(name: str, rows: Sequence[dict[str, Any]], columns: Sequence[str], **extra: Any) -> Path:
    """Print the table and write ``bench/results/NAME.json`` (rows, machine, time); returns the JSON path."""
    print(f"\n{name}\n{format_table(rows, columns)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"name": name, "machine": describe_machine(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "rows": list(rows), **extra}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"-> {path}")
    return path
