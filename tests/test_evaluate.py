"""`synthmatch eval`: the held-out targets, one row per method x budget x target, the documented JSON, the errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from wav_files import write_wav

from synthmatch.cli import main
from synthmatch.full_band import resampled
from synthmatch.note_length import with_note_length
from synthmatch.prepared_target import read_prepared_target
from synthmatch.start_bank import write_start_bank
from synthmatch.synths import Synth, open_synth
from synthmatch.training.environment import AUDIBLE_PEAK_DB
from synthmatch.training.evaluate import ROW_KEYS
from synthmatch.training.targets import random_targets

torch.set_num_threads(1)

REPORT_KEYS = {"rows", "summary", "synth", "seed", "targets", "machine"}
SUMMARY_KEYS = {"method", "budget", "targets", "distance_median", "distance_iqr", "lsd_db_median", "mfcc_l1_median",
                "spectral_convergence_median", "fullband_mrstft_median", "param_mae_median", "success_rate",
                "renders_mean", "seconds_median",
                "seconds_total"}


@pytest.fixture(scope="module")
def synth() -> Synth:
    return open_synth("builtin")


def run_eval(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """`synthmatch eval ARGS --json` -> the printed report."""
    assert main(["eval", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_held_out_targets_are_audible_seeded_and_spread_over_the_notes(synth: Synth) -> None:
    targets = random_targets(synth, 24, seed=3)
    assert all(np.abs(t.audio).max() >= 10 ** (AUDIBLE_PEAK_DB / 20) for t in targets)
    notes = {t.note for t in targets}
    settings = synth.definition.note
    assert len(notes) > 12 and settings.lowest_note <= min(notes) and max(notes) <= settings.highest_note
    fewer = random_targets(synth, 5, seed=3)  # the first k of N targets do not depend on N
    assert [t.note for t in fewer] == [t.note for t in targets[:5]]
    np.testing.assert_array_equal(fewer[4].params, targets[4].params)
    assert [t.note for t in random_targets(synth, 5, seed=4)] != [t.note for t in fewer]


def test_the_report_has_a_row_per_method_budget_and_target(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    report = run_eval(capsys, "--random", "3", "--seed", "5", "--methods", "random,cmaes", "--budgets", "2,6",
                      "--out", str(out))
    assert set(report) >= REPORT_KEYS and report["synth"] == "builtin" and report["seed"] == 5
    rows = report["rows"]
    assert [(r["method"], r["budget"]) for r in rows] == [("random", 2), ("random", 6), ("cmaes", 2), ("cmaes", 6)] * 3
    assert len({r["target"] for r in rows}) == 3
    for row in rows:
        assert tuple(row) == ROW_KEYS
        assert row["renders"] <= row["budget"] + 1 and row["distance"] <= row["distance_start"]  # + the start
        assert row["success"] == (row["distance"] < report["success_threshold"])
        assert 0.0 <= row["param_mae"] <= 1.0
    assert [(s["method"], s["budget"]) for s in report["summary"]] == [("random", 2), ("random", 6), ("cmaes", 2),
                                                                         ("cmaes", 6)]
    assert all(set(s) >= SUMMARY_KEYS and s["targets"] == 3 for s in report["summary"])
    assert json.loads(out.read_text())["rows"] == rows


def test_the_same_seed_gives_the_same_report(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--random", "2", "--seed", "9", "--methods", "cmaes,random", "--budgets", "4")
    first, second = run_eval(capsys, *args), run_eval(capsys, *args)
    for a, b in zip(first["rows"], second["rows"], strict=True):
        assert {**a, "seconds": 0} == {**b, "seconds": 0}



def test_recordings_are_played_at_their_pitch_without_a_patch_error(
    capsys: pytest.CaptureFixture[str], synth: Synth, tmp_path: Path
) -> None:
    defaults = np.array(synth.definition.defaults_normalised())
    for note in (45, 67):
        write_wav(tmp_path / f"note{note}.wav", synth.render(defaults[None], note)[0], synth.sample_rate)
    (tmp_path / "notes.txt").write_text("not audio")
    report = run_eval(capsys, "--targets", str(tmp_path), "--methods", "random", "--budgets", "3")
    assert [(r["target"], r["note"]) for r in report["rows"]] == [("note45.wav", 45), ("note67.wav", 67)]
    assert all(r["param_mae"] is None for r in report["rows"]) and report["summary"][0]["param_mae_median"] is None
    assert report["targets"] == {"kind": "folder", "path": str(tmp_path), "count": 2}


def test_recordings_are_played_as_match_plays_them_and_judged_full_band(
    capsys: pytest.CaptureFixture[str], synth: Synth, tmp_path: Path
) -> None:
    """A note held 0.25 s, quiet, at 48 kHz: eval holds the synth's note as `synthmatch match` does (not the
    definition's 0.6 s), reports the gain to the recording's level, and judges the --audio-out sound full-band."""
    definition = synth.definition
    patch = np.array(definition.defaults_normalised())
    patch[definition.parameter_names.index("amp_release_s")] = 0.0
    audio = open_synth(with_note_length(definition, 0.25, 1.5)).render(patch[None], 57)[0]
    write_wav(tmp_path / "short.wav", 0.05 * resampled(audio, definition.note.sample_rate, 48000), 48000)
    report = run_eval(capsys, "--targets", str(tmp_path), "--methods", "random", "--budgets", "3")
    (row,) = report["rows"]
    assert row["note_seconds"] == pytest.approx(0.25, abs=0.05)
    assert row["note_seconds"] == read_prepared_target(tmp_path / "short.wav", definition).note_seconds
    assert row["gain_db"] is not None and np.isfinite(row["gain_db"])
    assert row["fullband_mrstft"] > 0 and report["summary"][0]["fullband_mrstft_median"] == row["fullband_mrstft"]
    random = run_eval(capsys, "--random", "1", "--methods", "random", "--budgets", "2")["rows"][0]
    assert random["fullband_mrstft"] is None and random["note_seconds"] == definition.note.note_seconds


def test_the_agent_and_the_one_shot_regressor_are_evaluated_with_the_model_given(
    capsys: pytest.CaptureFixture[str], tiny_model_dir: Path
) -> None:
    assert main(["eval", "--random", "2", "--model", str(tiny_model_dir), "--methods", "agent,oneshot,agent+refine",
                 "--budgets", "4"]) == 0
    table = capsys.readouterr().out
    for words in ("agent ", "oneshot", "agent+refine", "mrstft median [IQR]", "2 random targets"):
        assert words in table


def test_the_report_says_whether_the_agent_had_a_relay_and_a_start_bank(
    capsys: pytest.CaptureFixture[str], synth: Synth, tiny_model_dir: Path, relayed_model_dir: Path, tmp_path: Path
) -> None:
    args = ("--random", "1", "--methods", "agent", "--budgets", "2", "--model")
    plain = run_eval(capsys, *args, str(tiny_model_dir))
    assert plain["relay"] is None and plain["starts"] is None and plain["oneshot_start"] is False
    relayed = run_eval(capsys, *args, str(relayed_model_dir))
    assert relayed["model"] == str(relayed_model_dir) and relayed["relay"] == str(relayed_model_dir / "relay")
    banked = tmp_path / "model"
    shutil.copytree(tiny_model_dir, banked)
    write_start_bank(banked, synth.definition, np.full((2, len(synth.parameters)), 0.5), {})
    with_bank = run_eval(capsys, *args, str(banked))
    assert with_bank["starts"] == 2 and with_bank["oneshot_start"] is True  # its one-shot network guesses first
    searched = run_eval(capsys, "--random", "1", "--methods", "random", "--budgets", "2")
    assert searched["relay"] is None and searched["starts"] is None and searched["oneshot_start"] is None


@pytest.mark.parametrize(("args", "message"), [
    (["--random", "1", "--methods", "random,cmaess"], "unknown method 'cmaess'; did you mean cmaes?"),
    (["--random", "1", "--methods", " , "], "names no method"),
    (["--random", "1", "--budgets", "8,0"], "'0' is not a whole number >= 1"),
    (["--random", "0"], "--random 0: the number of random targets must be at least 1"),
    (["--targets", "no/such/folder"], "no such folder; make one with scripts/make-real-targets.sh"),
    (["--random", "1", "--model", "no/such/model", "--methods", "agent"], "no/such/model: no such model folder"),
])
def test_bad_arguments_are_explained(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(["eval", "--methods", "random", "--budgets", "2", *args]) == 1
    assert message in capsys.readouterr().err


def test_a_folder_without_audio_says_how_to_make_targets(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["eval", "--targets", str(tmp_path), "--methods", "random"]) == 1
    assert "no audio files" in capsys.readouterr().err
