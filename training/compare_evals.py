"""Paired comparison of two `synthmatch eval --out` reports on the same targets: is B really better than A?

Two medians over 256 targets differ by a few hundredths from noise alone; the same targets matched by both
make the per-target difference the honest measure. For each method and budget both reports hold, this prints
the two medians, the median per-target difference (B - A, negative: B closer) with a seeded bootstrap 95%
interval, the share of targets where B is closer, and the two-sided sign-test p-value.

    python -m synthmatch.training.compare_evals A.json B.json [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

#: Bootstrap resamples of the median difference, and their seed (the interval is reproducible).
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 10_000, 0


def sign_test_p(wins: int, losses: int) -> float:
    """Two-sided exact binomial p-value of ``wins`` against ``losses`` under a fair coin (ties left out)."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def paired_figures(base: npt.NDArray[np.float64], new: npt.NDArray[np.float64]) -> dict[str, Any]:
    """The paired figures of per-target distances ``base`` and ``new`` [N] (same targets, same order)."""
    difference = new - base
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    resampled = np.median(difference[rng.integers(0, len(difference), (BOOTSTRAP_RESAMPLES, len(difference)))],
                          axis=1)
    wins, losses = int(np.sum(difference < 0)), int(np.sum(difference > 0))
    return {
        "targets": len(difference), "median_a": float(np.median(base)), "median_b": float(np.median(new)),
        "median_difference": float(np.median(difference)),
        "median_difference_ci95": [float(v) for v in np.percentile(resampled, [2.5, 97.5])],
        "b_closer": wins / len(difference), "a_closer": losses / len(difference),
        "sign_test_p": sign_test_p(wins, losses),
    }


def distances_by_target(report: dict[str, Any]) -> dict[tuple[str, int], dict[str, float]]:
    """{(method, budget): {target: distance}} of an eval report's rows."""
    table: dict[tuple[str, int], dict[str, float]] = {}
    for row in report["rows"]:
        table.setdefault((row["method"], int(row["budget"])), {})[row["target"]] = float(row["distance"])
    return table


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """One row of :func:`paired_figures` per method and budget both reports hold, on the targets both matched."""
    if a.get("synth_sha256") != b.get("synth_sha256"):
        raise ValueError("the two reports were made on different synth definitions; compare like with like")
    table_a, table_b = distances_by_target(a), distances_by_target(b)
    rows = []
    for key in sorted(set(table_a) & set(table_b)):
        targets = sorted(set(table_a[key]) & set(table_b[key]))
        if not targets:
            continue
        base = np.array([table_a[key][t] for t in targets])
        new = np.array([table_b[key][t] for t in targets])
        rows.append({"method": key[0], "budget": key[1], **paired_figures(base, new)})
    if not rows:
        raise ValueError("the reports share no method, budget and target; run both evals with the same options")
    return rows


def format_rows(rows: Sequence[dict[str, Any]]) -> str:
    """The comparison as a plain-text table."""
    lines = [f"{'method':<14}{'budget':>7}{'targets':>8}{'A':>8}{'B':>8}{'B - A [95% CI]':>28}"
             f"{'B closer':>10}{'sign p':>10}"]
    for row in rows:
        low, high = row["median_difference_ci95"]
        interval = f"{row['median_difference']:+.4f} [{low:+.4f}, {high:+.4f}]"
        lines.append(f"{row['method']:<14}{row['budget']:>7}{row['targets']:>8}{row['median_a']:>8.3f}"
                     f"{row['median_b']:>8.3f}{interval:>28}{100 * row['b_closer']:>9.0f}%{row['sign_test_p']:>10.2g}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: two report paths, the table (or --json) on stdout; exit status 2 on unusable reports."""
    parser = argparse.ArgumentParser(prog="python -m synthmatch.training.compare_evals", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="the baseline report (synthmatch eval --out A.json)")
    parser.add_argument("b", type=Path, help="the report to compare with it, on the same targets")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    try:
        reports = [json.loads(path.read_text(encoding="utf-8")) for path in (args.a, args.b)]
        rows = compare(*reports)
    except (OSError, ValueError, KeyError) as err:
        print(f"compare_evals: {err}", file=sys.stderr)
        return 2
    print(json.dumps(rows, indent=2) if args.json else format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
