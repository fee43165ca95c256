"""Per-parameter action errors of a run: they add up to the held-out action MSE the imitation stage reported."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch

from synthmatch.cli import main as synthmatch_main
from synthmatch.definitions import find_definition
from synthmatch.training.action_errors import action_errors, format_errors, main


@pytest.fixture(scope="module")
def bc_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke configuration's behaviour cloning alone (no DAgger, no RL), trained through the command line."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("bc")
    config = folder / "bc.toml"
    text = (Path(__file__).parents[1] / "training" / "configs" / "smoke.toml").read_text()
    config.write_text(text.replace("dagger_rounds = 1", "dagger_rounds = 0").replace(
        "total_env_steps = 128", "total_env_steps = 0"))
    run_dir = folder / "run"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        status = synthmatch_main(["train", "--synth", "builtin", "--config", str(config), "--out", str(run_dir),
                                  "--device", "cpu"])
    assert status == 0
    return run_dir


def test_the_parameters_add_up_to_the_stage_s_held_out_error(bc_run: Path) -> None:
    errors = action_errors(bc_run)
    stages = {row["stage"]: row for row in json.loads((bc_run / "summary.json").read_text())["stages"]}
    assert errors["mse"] == pytest.approx(stages["bc"]["action_mse_held_out"], rel=1e-4)
    names = [parameter.name for parameter in find_definition("builtin").parameters]
    assert [row["name"] for row in errors["parameters"]] == names
    assert errors["mse"] == pytest.approx(sum(row["mse"] for row in errors["parameters"]) / len(names))
    assert 0.0 < errors["zero_mse"] <= 1.0 and 0.0 < errors["saturated"] < 1.0
    table = format_errors(errors)
    assert table.count("\n") == len(names) + 1 and "volume_db" in table


def test_a_folder_that_is_not_a_run_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 2
    assert f"not a training run folder (no config.toml): {tmp_path}" in capsys.readouterr().err
