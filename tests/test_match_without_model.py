"""`synthmatch match` on a synth without a model: it searches instead, and says so on stderr and in --json."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from synthmatch.cli import main
from synthmatch.definitions import DEFINITIONS_PATH_VAR
from synthmatch.model_choice import SEARCH_WITHOUT_MODEL


@pytest.fixture
def no_model_synth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """"nomodel": the builtin definition under another name, found through $SYNTHMATCH_DEFINITIONS; no model."""
    builtin = resources.files("synthmatch.synthdefs").joinpath("builtin.toml").read_text(encoding="utf-8")
    (tmp_path / "nomodel.toml").write_text(builtin.replace('name = "builtin"', 'name = "nomodel"', 1))
    monkeypatch.setenv(DEFINITIONS_PATH_VAR, str(tmp_path))
    return "nomodel"


def test_a_synth_without_a_model_is_matched_by_search_and_says_so(
    no_model_synth: str, target_wav: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["match", str(target_wav), "--synth", no_model_synth, "--steps", "12", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["method"] == SEARCH_WITHOUT_MODEL and result["synth"] == "nomodel" and result["renders"] <= 13
    assert result["distance"] < result["distance_start"]
    assert captured.err == (f"synthmatch match: no model (none shipped for 'nomodel'): matching by search "
                            f"({SEARCH_WITHOUT_MODEL})\n")


def test_the_agent_asked_for_without_a_model_is_a_clear_error(
    no_model_synth: str, target_wav: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["match", str(target_wav), "--synth", no_model_synth, "--method", "agent"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("synthmatch match: error: no shipped model for 'nomodel'") and error.count("\n") == 1


def test_a_synth_with_a_model_still_gets_the_agent(target_wav: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", str(target_wav), "--steps", "2", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["method"] == "agent" and "search" not in captured.err
