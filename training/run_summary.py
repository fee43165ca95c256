"""The table `synthmatch train` prints at the end: each stage's cost and what it did to the validation distance.

Made from the run's summary.json (:func:`synthmatch.training.train.summary`): one row per stage with its
environment steps, gradient updates, wall time and the validation median distance before and after it (before
the first stage: the untrained policy's), then the totals and where the checkpoint, the summary and the
TensorBoard logs are.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from synthmatch.training.checkpoints import checkpoint_path

#: The summary file and the TensorBoard folder inside a run folder (as train.py writes them).
SUMMARY_NAME, TENSORBOARD_NAME = "summary.json", "tb"


def format_duration(seconds: float) -> str:
    """``seconds`` as h:mm:ss or m:ss, the way a person reads a training time."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _success(figures: Mapping[str, Any]) -> str:
    """The success rate of a stage's validation as a percentage, "-" where there was none."""
    return "-" if "success_rate" not in figures else f"{100 * figures['success_rate']:.0f}%"


def format_run_summary(report: Mapping[str, Any], run_dir: str | Path) -> str:
    """The end-of-training table of ``report`` (summary.json's content) for the run in ``run_dir``.

    Distances are the validation episodes' median primary distance (nepers) after each stage; success is the
    share of validation episodes that ended below the success threshold.
    """
    run = Path(run_dir)
    header = ("stage", "env steps", "updates", "time", "distance before -> after", "success")
    rows = [header]
    before: float | None = None
    for stage in report["stages"]:
        after = stage.get("distance_median")
        change = "-" if after is None else f"{after:.3f}" if before is None else f"{before:.3f} -> {after:.3f}"
        rows.append((stage["stage"], str(stage["env_steps"]), str(stage["updates"]), format_duration(stage["seconds"]),
                     change, _success(stage)))
        before = after
    first, final = report["stages"][0], report["final"]
    total = "-" if "distance_median" not in final else \
        f"{first['distance_median']:.3f} -> {final['distance_median']:.3f}"
    rows.append(("total", str(report["env_steps"]), str(report["updates"]), format_duration(report["seconds"]),
                 total, _success(final)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in
                       enumerate(zip(row, widths, strict=True))) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.insert(-1, lines[1])
    if "distance_median" in final:
        lines.append(f"distance: validation median, nepers (the default patch it starts from: "
                     f"{final['distance_start_median']:.3f})")
    else:  # an external synth: nothing renders, so no validation by matching
        lines.append(f"distance: none ({report['synth']} cannot render in-process); action MSE on held-out pairs of "
                     f"recordings: {final.get('action_mse_held_out', float('nan')):.3f}")
    lines += [
        f"checkpoint:  {checkpoint_path(run)}",
        f"summary:     {run / SUMMARY_NAME}",
        f"tensorboard: tensorboard --logdir {run / TENSORBOARD_NAME}",
        f"export with: synthmatch export {run} --out models/{report['synth']}/",
    ]
    if report.get("resumes"):
        lines.append(f"resumed {report['resumes']} time(s) from the newest checkpoint")
    return "\n".join(lines)
