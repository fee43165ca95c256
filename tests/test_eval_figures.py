"""The evaluation figure: one curve per method against renders used, with its spread, from eval's JSON report."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthmatch.cli import build_parser
from synthmatch.match_figures import PlottingUnavailable
from synthmatch.training.eval_figures import main, merged_summary, plot_evaluation, start_distance
from synthmatch.training.evaluate import run_eval

pytest.importorskip("matplotlib", reason="pictures need the plot extra: pip install 'synthmatch[plot]'")

SHIPPED = Path(__file__).parents[1] / "models" / "builtin"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reports() -> list[dict[str, Any]]:
    """The shipped model's committed evaluation: every method at 32 and 256, the searches at 1024."""
    return [json.loads((SHIPPED / name).read_text()) for name in ("evaluation.json", "evaluation-1024.json")]


def test_the_figure_has_a_curve_per_method_on_a_log_axis_and_the_start_line(
    reports: list[dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "eval.png"
    figure = plot_evaluation(reports, out)
    assert out.read_bytes().startswith(PNG_SIGNATURE) and out.stat().st_size < 200_000
    (axes,) = figure.axes
    assert axes.get_xscale() == "log" and "renders used" in axes.get_xlabel()
    assert re.fullmatch(r"builtin: \d+ random targets, median and interquartile range", axes.get_title())
    curves = {line.get_label(): line for line in axes.get_lines()}
    methods = {"agent", "agent+search", "oneshot", "random", "cmaes"}
    assert set(curves) >= methods | {"start (default patch)"}
    # The two reports merged: random search at 32 and 256 (evaluation.json) and 1024 (evaluation-1024.json), each
    # at the renders it used (the start counted since December 2026, so 33 and 257; 1024 measured before that).
    used = [e["renders_mean"] for report in reports for e in report["summary"] if e["method"] == "random"]
    assert len(used) == 3
    np.testing.assert_allclose(curves["random"].get_xdata(), sorted(used))
    np.testing.assert_allclose(curves["agent"].get_xdata(), [33, 257])  # the agent's start render counts
    agent32 = next(e for e in reports[0]["summary"] if (e["method"], e["budget"]) == ("agent", 32))
    assert curves["agent"].get_ydata()[0] == pytest.approx(agent32["distance_median"])
    assert curves["start (default patch)"].get_ydata()[0] == pytest.approx(agent32["distance_start_median"])
    assert len(axes.collections) >= 4  # the interquartile bands


def test_the_start_is_not_the_one_shot_guess(reports: list[dict[str, Any]]) -> None:
    summary = merged_summary(reports)
    agent = next(e for e in summary if e["method"] == "agent")
    assert start_distance(summary) == pytest.approx(agent["distance_start_median"])
    oneshot = next(e for e in summary if e["method"] == "oneshot")
    assert oneshot["distance_start_median"] != pytest.approx(start_distance(summary))


def test_reports_of_other_targets_are_not_merged(reports: list[dict[str, Any]]) -> None:
    other = {**reports[1], "seed": 99}
    with pytest.raises(ValueError, match="report 2 has seed 99, report 1 1234; plot together only"):
        merged_summary([reports[0], other])
    with pytest.raises(ValueError, match="no evaluation report"):
        merged_summary([])


def test_the_command_line_draws_committed_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eval.png"
    assert main([str(SHIPPED / "evaluation.json"), "--out", str(out)]) == 0
    assert out.read_bytes().startswith(PNG_SIGNATURE) and "figure written to" in capsys.readouterr().out


def test_eval_writes_its_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "eval.png"
    args = build_parser().parse_args(["eval", "--random", "2", "--methods", "random,cmaes", "--budgets", "2,4"])
    args.plot = plot  # the --plot argparse line comes with cli.py
    assert run_eval(args) == 0
    assert plot.read_bytes().startswith(PNG_SIGNATURE) and f"figure written to {plot}" in capsys.readouterr().out


def test_eval_without_matplotlib_fails_before_it_evaluates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    args = build_parser().parse_args(["eval", "--random", "2", "--methods", "random", "--budgets", "2"])
    args.plot, args.out = tmp_path / "eval.png", tmp_path / "eval.json"
    with pytest.raises(PlottingUnavailable, match=r"pip install 'synthmatch\[plot\]'"):
        run_eval(args)
    assert not args.out.exists()
