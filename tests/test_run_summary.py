"""The table `synthmatch train` ends with: each stage's cost and the validation distance before and after it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthmatch.training.run_summary import format_duration, format_run_summary


def stage(name: str, env_steps: int, seconds: float, distance: float, success: float) -> dict[str, Any]:
    return {"stage": name, "env_steps": env_steps, "updates": env_steps // 10, "seconds": seconds,
            "distance_start_median": 0.548, "distance_median": distance, "success_rate": success}


REPORT = {
    "synth": "builtin", "algo": "sac", "seed": 0,
    "stages": [stage("untrained", 0, 0.0, 0.431, 0.16), stage("bc", 49152, 229.3, 0.213, 0.23),
               stage("rl", 81920, 3725.0, 0.289, 0.2)],
    "final": {"distance_start_median": 0.548, "distance_median": 0.289, "success_rate": 0.2},
    "env_steps": 131072, "updates": 13107, "seconds": 3954.3, "resumes": 1,
}


def test_each_stage_shows_the_distance_before_and_after_it() -> None:
    lines = format_run_summary(REPORT, Path("runs/x")).splitlines()
    assert lines[0].split()[:4] == ["stage", "env", "steps", "updates"]
    assert lines[2].split() == ["untrained", "0", "0", "0:00", "0.431", "16%"]
    assert lines[3].split() == ["bc", "49152", "4915", "3:49", "0.431", "->", "0.213", "23%"]
    assert lines[4].split() == ["rl", "81920", "8192", "1:02:05", "0.213", "->", "0.289", "20%"]
    assert lines[6].split() == ["total", "131072", "13107", "1:05:54", "0.431", "->", "0.289", "20%"]


def test_it_says_where_the_model_and_logs_are() -> None:
    text = format_run_summary(REPORT, Path("runs/x"))
    assert "checkpoint:  runs/x/checkpoints/latest.pt" in text
    assert "tensorboard --logdir runs/x/tb" in text
    assert "synthmatch export runs/x --out models/builtin/" in text
    assert "default patch it starts from: 0.548" in text and "resumed 1 time(s)" in text


def test_durations_read_as_clock_times() -> None:
    assert [format_duration(s) for s in (0, 59.6, 412.3, 3725)] == ["0:00", "1:00", "6:52", "1:02:05"]
