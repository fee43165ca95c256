"""compare_evals: per-target differences, the sign test and the refusal of reports that do not match."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthmatch.training.compare_evals import compare, main, sign_test_p


def report(distances: list[float], sha: str = "abc", method: str = "agent") -> dict[str, Any]:
    """A minimal eval report: one row per target at budget 32."""
    rows = [{"method": method, "budget": 32, "target": f"t{i}", "distance": d} for i, d in enumerate(distances)]
    return {"rows": rows, "synth_sha256": sha}


def test_sign_test_matches_the_binomial_tails() -> None:
    assert sign_test_p(10, 0) == pytest.approx(2 / 1024)
    assert sign_test_p(5, 5) == 1.0
    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(7, 3) == pytest.approx(2 * (1 + 10 + 45 + 120) / 1024)


def test_a_uniform_gain_is_found_on_every_target_while_the_medians_hide_a_shuffle() -> None:
    base = list(np.linspace(0.1, 0.5, 41))
    (row,) = compare(report(base), report([d - 0.01 for d in base]))
    assert row["median_difference"] == pytest.approx(-0.01)
    assert row["median_difference_ci95"] == pytest.approx([-0.01, -0.01])
    assert row["b_closer"] == 1.0 and row["sign_test_p"] < 1e-9
    (shuffled,) = compare(report(base), report(base[::-1]))  # same median, different per target
    assert shuffled["median_a"] == shuffled["median_b"]
    assert shuffled["b_closer"] == shuffled["a_closer"] == pytest.approx(20 / 41)


def test_reports_of_different_synths_or_methods_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(report([0.1, 0.2])))
    b.write_text(json.dumps(report([0.1, 0.2], sha="other")))
    assert main([str(a), str(b)]) == 2
    assert "different synth definitions" in capsys.readouterr().err
    b.write_text(json.dumps(report([0.1, 0.2], method="random")))
    assert main([str(a), str(b)]) == 2
    assert "share no method" in capsys.readouterr().err
    b.write_text(json.dumps(report([0.05, 0.3])))
    assert main([str(a), str(b)]) == 0
    assert "agent" in capsys.readouterr().out
