"""`synthmatch dataset` on in-process synths: local workers, resuming after an interruption, skipped takes, refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from synthmatch.cli import main
from synthmatch.dataset_render import verdict
from synthmatch.datasets import definition_sha256, open_dataset, patches_for, shard_path
from synthmatch.definitions import find_definition, load_definition
from synthmatch.synths import open_synth
from synthmatch.synths.vst3 import PluginNotFound

BUILTIN = find_definition("builtin")
NEKOBI_TOML = Path(str(resources.files("synthmatch.synthdefs").joinpath("nekobi.toml")))
COMMAND = [sys.executable, "-m", "synthmatch", "dataset"]


def make(folder: Path, *args: str, synth: str = "builtin", patches: int = 40) -> int:
    """Run `synthmatch dataset` in this process; returns its exit status."""
    return main(["dataset", "--synth", synth, "--patches", str(patches), "--out", str(folder), "--seed", "5",
                 "--shard-size", "8", *args])


def test_a_data_set_holds_the_seeds_patches_and_their_sounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert make(tmp_path / "d") == 0
    dataset = open_dataset(tmp_path / "d", BUILTIN)
    assert dataset.complete and dataset.manifest.source == "render"
    params, notes, audio, index = dataset.load_all()
    expected_params, expected_notes = patches_for(5, index, BUILTIN)
    np.testing.assert_array_equal(params, expected_params)
    np.testing.assert_array_equal(notes, expected_notes)
    again = open_synth(BUILTIN).render(params[:3].astype(np.float64), notes[:3].astype(np.int64))
    np.testing.assert_allclose(audio[:3], again, atol=1e-6)
    silent, broken = dataset.skipped()
    assert len(index) + silent + broken == 40
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert summary["complete"] and summary["kept"] == len(index) and summary["skipped_silent"] == silent
    err = capsys.readouterr().err
    assert "patches/s" in err and "ETA" in err and f"{len(index)} kept, {silent} skipped silent" in err


def test_the_takes_skipped_as_silent_are_silent_and_the_kept_ones_are_not(tmp_path: Path) -> None:
    assert make(tmp_path / "d", patches=160) == 0
    dataset = open_dataset(tmp_path / "d", BUILTIN)
    skipped = np.concatenate([s.skipped_silent for s in dataset.shards()])
    assert len(skipped) > 0, "160 random patches of the built-in synth include silent ones"
    params, notes = patches_for(5, skipped, BUILTIN)
    takes = open_synth(BUILTIN).render(params.astype(np.float64), notes.astype(np.int64))
    assert all(verdict(take) == "silent" for take in takes)
    _, _, audio, _ = dataset.load_all()
    assert all(verdict(take) == "kept" for take in audio)


def test_takes_with_nan_or_clipping_are_broken() -> None:
    tone = (0.5 * np.sin(np.linspace(0, 100, 1600))).astype(np.float32)
    assert verdict(tone) == "kept"
    assert verdict(tone * 1e-4) == "silent"
    assert verdict(np.where(np.arange(1600) == 7, np.nan, tone).astype(np.float32)) == "broken"
    assert verdict(np.clip(tone * 10, -1, 1)) == "broken"


def test_the_same_seed_gives_the_same_data_set_whatever_the_workers(tmp_path: Path) -> None:
    assert make(tmp_path / "one") == 0
    assert make(tmp_path / "two", "--workers", "2") == 0
    one = open_dataset(tmp_path / "one", BUILTIN).load_all()
    two = open_dataset(tmp_path / "two", BUILTIN).load_all()
    np.testing.assert_array_equal(one[3], two[3])  # the same patches kept
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_allclose(one[2], two[2], atol=1e-5)


@pytest.mark.vst3
def test_nekobi_renders_the_same_in_worker_processes(tmp_path: Path) -> None:
    try:
        open_synth(load_definition(NEKOBI_TOML))
    except PluginNotFound:
        pytest.skip("Nekobi not built: run scripts/build-nekobi.sh")
    assert make(tmp_path / "one", synth="nekobi", patches=16) == 0
    assert make(tmp_path / "two", "--workers", "2", synth="nekobi", patches=16) == 0
    nekobi = find_definition("nekobi")
    one, two = open_dataset(tmp_path / "one", nekobi).load_all(), open_dataset(tmp_path / "two", nekobi).load_all()
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[3], two[3])
    np.testing.assert_allclose(one[2], two[2], atol=1e-4)


def test_an_interrupted_run_resumes_with_only_the_missing_shards(tmp_path: Path) -> None:
    """A run stopped by Ctrl-C keeps its shards; the same command writes only the others, and the result is the
    data set an uninterrupted run makes."""
    folder = tmp_path / "d"
    args = ["--synth", "builtin", "--patches", "600", "--out", str(folder), "--seed", "5", "--shard-size", "8"]
    # SIGINT as a terminal sends it: a shell ignores it in background jobs, and Python keeps an inherited ignore
    process = subprocess.Popen([*COMMAND, *args], stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while not shard_path(folder, 2).exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    dataset = open_dataset(folder, BUILTIN)
    written = dataset.shard_numbers()
    assert 3 <= len(written) < dataset.manifest.shard_count, "stopped part way"
    assert not json.loads((folder / "summary.json").read_text())["complete"]
    before = {j: os.stat(shard_path(folder, j)).st_mtime_ns for j in written}
    resumed = subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert {j: os.stat(shard_path(folder, j)).st_mtime_ns for j in written} == before  # not rendered again
    assert dataset.complete and json.loads((folder / "summary.json").read_text())["complete"]
    assert make(tmp_path / "whole", patches=600) == 0
    whole = open_dataset(tmp_path / "whole", BUILTIN).load_all()
    pieces = dataset.load_all()
    np.testing.assert_array_equal(whole[3], pieces[3])
    np.testing.assert_array_equal(whole[0], pieces[0])
    np.testing.assert_allclose(whole[2], pieces[2], atol=1e-6)


def test_a_folder_of_another_definition_is_refused_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert make(tmp_path / "d", patches=8) == 0
    shards = sorted((tmp_path / "d" / "shards").iterdir())
    edited = tmp_path / "builtin.toml"  # the same synth, one range changed: another definition
    text = BUILTIN.source.read_text() if BUILTIN.source else ""
    edited.write_text(text.replace("lowest_note = 36", "lowest_note = 40"))
    other = load_definition(edited)
    assert definition_sha256(other) != definition_sha256(BUILTIN)
    capsys.readouterr()
    assert make(tmp_path / "d", synth=str(edited), patches=8) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "another definition" in err
    assert definition_sha256(BUILTIN)[:12] in err and definition_sha256(other)[:12] in err
    assert sorted((tmp_path / "d" / "shards").iterdir()) == shards  # nothing lost
    assert open_dataset(tmp_path / "d", BUILTIN).complete


def test_resuming_with_another_seed_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert make(tmp_path / "d", patches=8) == 0
    assert main(["dataset", "--synth", "builtin", "--patches", "8", "--out", str(tmp_path / "d"), "--seed", "6",
                 "--shard-size", "8"]) == 1
    assert "seed 5 there, 6 asked" in capsys.readouterr().err


def test_an_external_synth_cannot_use_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataset", "--synth", "zynaddsubfx", "--patches", "4", "--out", str(tmp_path / "z"),
                 "--workers", "2"]) == 1
    assert "one note at a time" in capsys.readouterr().err
    assert not (tmp_path / "z").exists()
