"""The picture of an evaluation: distance against renders used, one curve per method, median and IQR band.

Drawn from the JSON report of ``synthmatch eval`` (its ``summary``), or several reports on the same targets
merged (the shipped model's ``evaluation.json`` and ``evaluation-1024.json``). The x axis is the mean number of
renders a method used at each budget (log scale), the start patch's median distance is a dashed line. Run
``python -m synthmatch.training.eval_figures REPORT.json [...] --out FIGURE.png`` to draw committed reports.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthmatch.distances import PRIMARY
from synthmatch.match_figures import DPI, require_matplotlib

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Colour and marker of each known method, so a method looks the same in every figure.
METHOD_STYLES = {
    "agent": ("tab:blue", "o"),
    "agent+refine": ("tab:purple", "D"),
    "agent+search": ("tab:cyan", "v"),
    "oneshot": ("tab:green", "*"),
    "random": ("tab:gray", "s"),
    "cmaes": ("tab:orange", "^"),
    "oneplusone": ("tab:brown", "P"),
    "ngopt": ("tab:red", "X"),
}


def merged_summary(reports: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The summary entries of ``reports`` (one evaluation each) on the same synth and targets, in order.

    A ValueError says which report differs; a (method, budget) given twice keeps the later report's figures.
    """
    if not reports:
        raise ValueError("no evaluation report to plot; give the JSON written by `synthmatch eval --out`")
    first = reports[0]
    entries: dict[tuple[str, int], dict[str, Any]] = {}
    for index, report in enumerate(reports):
        for key in ("synth", "targets", "seed"):
            if report.get(key) != first.get(key):
                raise ValueError(f"report {index + 1} has {key} {report.get(key)!r}, report 1 {first.get(key)!r}; "
                                 "plot together only evaluations of the same synth on the same targets")
        for entry in report["summary"]:
            entries[(entry["method"], entry["budget"])] = entry
    return list(entries.values())


def start_distance(summary: Sequence[dict[str, Any]]) -> float:
    """The start patch's median distance: that of the methods that start from it (the one-shot has no start)."""
    starts = [entry["distance_start_median"] for entry in summary if entry["renders_mean"] > 1]
    return float(np.median(starts or [entry["distance_start_median"] for entry in summary]))


def plot_evaluation(reports: Sequence[dict[str, Any]], out: str | Path | None = None) -> Figure:
    """Distance against renders used for every method of ``reports`` (see :func:`merged_summary`); saved to ``out``."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    summary = merged_summary(reports)
    figure = Figure(figsize=(10.0, 5.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    methods = list(dict.fromkeys(entry["method"] for entry in summary))
    for method in methods:
        colour, marker = METHOD_STYLES.get(method, (None, "o"))
        points = sorted({entry["renders_mean"]: entry for entry in summary if entry["method"] == method}.items())
        renders = np.array([r for r, _ in points])
        median = np.array([entry["distance_median"] for _, entry in points])
        low, high = (np.array([entry["distance_iqr"][i] for _, entry in points]) for i in (0, 1))
        (line,) = axes.plot(renders, median, marker=marker, color=colour, label=method)
        if len(points) > 1:
            axes.fill_between(renders, low, high, color=line.get_color(), alpha=0.12, linewidth=0)
        else:
            axes.errorbar(renders, median, yerr=[median - low, high - median], color=line.get_color(), capsize=4)
    axes.axhline(start_distance(summary), color="black", linestyle="--", linewidth=1, label="start (default patch)")
    threshold = reports[-1].get("success_threshold")
    if threshold is not None:
        axes.axhline(threshold, color="tab:red", linestyle=":", linewidth=1, label=f"success (< {threshold:g})")
    axes.set_xscale("log")
    axes.set_ylim(bottom=0.0)
    axes.set_xlabel("renders used (log scale)")
    axes.set_ylabel(f"distance to the target ({PRIMARY}, nepers)")
    targets = reports[0].get("targets", {})
    axes.set_title(f"{reports[0].get('synth', '?')}: {targets.get('count', '?')} {targets.get('kind', '')} targets, "
                   "median and interquartile range")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    if out is not None:
        figure.savefig(out, dpi=DPI)
    return figure


def main(argv: Sequence[str] | None = None) -> int:
    """Draw the evaluation reports named on the command line into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json", help="written by synthmatch eval")
    parser.add_argument("--out", type=Path, required=True, metavar="FIGURE.png", help="where to write the figure")
    args = parser.parse_args(argv)
    plot_evaluation([json.loads(path.read_text(encoding="utf-8")) for path in args.reports], args.out)
    print(f"figure written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
