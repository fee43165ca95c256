"""`synthmatch train --dataset`: imitation from pairs of recordings, resumed, exported; another synth's data refused."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train import interrupt_after_checkpoint

from synthmatch.agent import OnnxAgent
from synthmatch.cli import main
from synthmatch.dataset_maker import make_dataset
from synthmatch.dataset_render import InProcess
from synthmatch.datasets import (
    DatasetError,
    Manifest,
    Shard,
    open_dataset,
    patches_for,
    write_manifest,
    write_shard,
)
from synthmatch.definitions import SynthDefinition, find_definition
from synthmatch.model_folder import load_metadata
from synthmatch.synths import open_synth
from synthmatch.training import train as train_module
from synthmatch.training.checkpoints import load_checkpoint
from synthmatch.training.config import load_config
from synthmatch.training.recorded_pairs import FixedPairs, PairSampler, RecordedPairs
from synthmatch.training.targets import dataset_targets, held_out_rows

PATCHES = 96
"""Patches of the test data set: those of 0, 10, ..., 90 that are not silent are held out."""


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def write_stand_in_dataset(
    folder: Path, definition: SynthDefinition, patches: int,
    takes: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> Path:
    """A finished data set of ``patches`` patches of ``definition``, each take made by ``takes(params, notes)``."""
    manifest = write_manifest(folder, Manifest.for_definition(definition, seed=7, patches=patches, source="rig",
                                                              shard_size=32))
    for shard in range(manifest.shard_count):
        index = manifest.shard_indices(shard)
        params, notes = patches_for(manifest.seed, index, definition)
        write_shard(folder, manifest, shard, Shard(index, params, notes, takes(params, notes).astype(np.float32)))
    return folder


@pytest.fixture(scope="module")
def builtin_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small data set rendered from the builtin synth by the data set command's own maker."""
    folder, definition = tmp_path_factory.mktemp("dataset") / "builtin", find_definition("builtin")
    manifest = Manifest.for_definition(definition, seed=7, patches=PATCHES, source="render", shard_size=32)
    result = make_dataset(folder, definition, manifest, InProcess(open_synth(definition)), stream=io.StringIO())
    assert result.complete
    return folder


def kept_patches(folder: Path) -> np.ndarray:
    """The patch numbers of the builtin data set's kept recordings."""
    return open_dataset(folder, find_definition("builtin")).load_all()[3]


@pytest.fixture(scope="module")
def dataset_run(builtin_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A whole smoke run from the builtin data set through the command line: its folder and what it printed."""
    run_dir = tmp_path_factory.mktemp("dataset-run") / "run"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(["train", "--synth", "builtin", "--config", "smoke", "--dataset", str(builtin_dataset),
                       "--out", str(run_dir)])
    assert status == 0
    return run_dir, out.getvalue()


def recordings(count: int = 40) -> RecordedPairs:
    """Recordings whose mel is a constant that says which recording it is, at four notes."""
    mels = np.repeat(np.arange(count, dtype=np.float16)[:, None, None], 4, axis=1).repeat(3, axis=2)
    params = np.random.default_rng(0).random((count, 5)).astype(np.float32)
    return RecordedPairs(mels, params, np.arange(count, dtype=np.int64) % 4 + 60, max_step=0.1)


# --- pairs --------------------------------------------------------------------------------------------------


def test_a_pair_is_two_recordings_at_one_note_labelled_with_the_clipped_step_between_their_patches() -> None:
    data = recordings()
    target, current, params, action = PairSampler(data).sample(256, np.random.default_rng(1))
    a, b = target[:, 0, 0].long().numpy(), current[:, 0, 0].long().numpy()  # which recording each one is
    assert np.array_equal(data.notes[a], data.notes[b])
    assert len({(int(i), int(j)) for i, j in zip(a, b, strict=True)}) > 100  # pairs, not a fixed partner per target
    np.testing.assert_allclose(params.numpy(), data.params[b])
    np.testing.assert_allclose(action.numpy(), np.clip((data.params[a] - data.params[b]) / 0.1, -1, 1), rtol=1e-6)


def test_fixed_pairs_are_the_same_every_time_for_a_seed() -> None:
    first, again = FixedPairs(recordings(), 64, seed=3), FixedPairs(recordings(), 64, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(first.tensors(slice(0, 64)), again.tensors(slice(0, 64)),
                                                 strict=True))
    assert not np.array_equal(first.currents, FixedPairs(recordings(), 64, seed=4).currents)


# --- a run --------------------------------------------------------------------------------------------------


def test_a_run_from_a_data_set_trains_on_the_recordings_it_does_not_hold_out(
    dataset_run: tuple[Path, str], builtin_dataset: Path
) -> None:
    run_dir, printed = dataset_run
    assert "imitation of the recordings of" in printed and "+ 1 DAgger round(s) + sac" in printed
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = {row["stage"]: row for row in summary["stages"]}
    assert list(rows) == ["untrained", "dataset", "dagger1", "rl"]  # the builtin synth renders: DAgger and RL follow
    smoke = load_config("smoke").pairs
    assert rows["dataset"]["updates"] == smoke.updates and rows["dataset"]["env_steps"] == 0
    kept = kept_patches(builtin_dataset)
    held = int(held_out_rows(kept).sum())
    assert held > 5 and (rows["dataset"]["recordings"], rows["dataset"]["held_out_recordings"]) == (len(kept) - held,
                                                                                                   held)
    assert 0.0 < rows["dataset"]["action_mse_held_out"] < 4.0
    assert "distance_median" in rows["dataset"]  # validated by matching, as every stage of a rendering synth


def test_an_interrupted_data_set_stage_resumes_at_its_last_checkpoint(
    builtin_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    args = argparse.Namespace(synth="builtin", config=Path("smoke"), algo=None, seed=None, out=run_dir,
                              dataset=builtin_dataset, device="cpu", workers=1)
    interrupt_after_checkpoint(monkeypatch, 1)  # in the middle of the data set stage
    with pytest.raises(KeyboardInterrupt):
        train_module.run_train(args)
    middle = load_checkpoint(run_dir)
    assert middle is not None and middle["done"] == [] and middle["pair_updates"] == load_config(
        "smoke").pairs.checkpoint_updates

    monkeypatch.undo()
    assert train_module.run_train(args) == 0  # the same command again resumes
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumes"] == 1
    assert [row["stage"] for row in summary["stages"]] == ["untrained", "dataset", "dagger1", "rl"]
    assert summary["stages"][1]["updates"] == load_config("smoke").pairs.updates  # the stage's, both sessions


def test_a_run_from_a_data_set_exports_to_a_model_folder(dataset_run: tuple[Path, str], tmp_path: Path) -> None:
    model = tmp_path / "model"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["export", str(dataset_run[0]), "--out", str(model)]) == 0
    agent = OnnxAgent.load(model, find_definition("builtin"))  # checks it fits the synth, as the daemon does
    metadata = agent.metadata
    assert metadata.raw["training"]["dataset"] and metadata.raw["evaluation"]["export"]["targets"] > 0
    action = agent.act(np.zeros((1, metadata.features.n_mels, metadata.frames), np.float32),
                       np.zeros((1, metadata.features.n_mels, metadata.frames), np.float32),
                       np.full((1, len(metadata.parameter_names)), 0.5, np.float32))
    assert action.shape == (1, len(metadata.parameter_names)) and np.all(np.abs(action) <= 1.0)


def test_a_data_set_of_another_definition_is_refused_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nekobi = find_definition("nekobi")
    folder = tmp_path / "nekobi"
    write_manifest(folder, Manifest.for_definition(nekobi, seed=0, patches=8, source="render"))
    args = argparse.Namespace(synth="builtin", config=Path("smoke"), algo=None, seed=None, out=tmp_path / "run",
                              dataset=folder, device="cpu", workers=1)
    with pytest.raises(DatasetError, match="'nekobi'.*sha256.*'builtin'.*sha256"):
        train_module.run_train(args)
    assert not (tmp_path / "run").exists()  # refused before any work
    capsys.readouterr()
    assert main(["train", "--synth", "builtin", "--dataset", str(folder), "--out", str(tmp_path / "run")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "'nekobi'" in error and "'builtin'" in error


def test_an_external_synth_trains_from_its_recordings_alone_and_exports(tmp_path: Path) -> None:
    zyn = find_definition("zynaddsubfx")
    rate, samples = zyn.note.sample_rate, zyn.note.render_samples

    def stand_in_takes(params: np.ndarray, notes: np.ndarray) -> np.ndarray:
        """Stand-in for the rig's recordings (the test plays no ZynAddSubFX): a decaying tone whose brightness
        and decay follow the first two parameters."""
        t = np.arange(samples) / rate
        f0 = 440.0 * 2.0 ** ((notes[:, None] - 69) / 12)
        bright = params[:, :1]
        tone = np.sin(2 * np.pi * f0 * t) + bright * np.sin(6 * np.pi * f0 * t)
        return tone * np.exp(-t / (0.05 + params[:, 1:2])) * 0.3

    folder = write_stand_in_dataset(tmp_path / "zyn", zyn, 48, stand_in_takes)
    run_dir = tmp_path / "run"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["train", "--synth", "zynaddsubfx", "--config", "smoke", "--dataset", str(folder),
                     "--out", str(run_dir)]) == 0
        assert main(["export", str(run_dir), "--out", str(tmp_path / "model")]) == 0
    assert "cannot render in-process: the data set is the whole training" in out.getvalue()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [row["stage"] for row in summary["stages"]] == ["untrained", "dataset"]  # no DAgger, no RL: no renders
    assert summary["final"]["action_mse_held_out"] > 0.0
    metadata = load_metadata(tmp_path / "model")
    metadata.check_fits(zyn)
    assert metadata.raw["evaluation"]["export"] is None and "not measured by matching" in out.getvalue()


def test_eval_takes_a_data_sets_held_out_recordings_as_targets_with_their_patch(builtin_dataset: Path) -> None:
    targets = dataset_targets(open_synth("builtin"), builtin_dataset)
    kept = kept_patches(builtin_dataset)
    held = kept[kept % 10 == 0]
    assert len(held) > 5 and [t.name for t in targets] == [f"patch-{i:06d}" for i in held]
    params, notes = patches_for(7, held, find_definition("builtin"))
    np.testing.assert_allclose(np.stack([t.params for t in targets if t.params is not None]), params)
    assert [t.note for t in targets] == notes.tolist()
    assert held_out_rows(np.array([0, 5, 10, 11]), 5).tolist() == [True, True, True, False]


def test_eval_dataset_matches_the_held_out_recordings(
    builtin_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "--synth", "builtin", "--dataset", str(builtin_dataset), "--methods", "random",
                 "--budgets", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    held = int(held_out_rows(kept_patches(builtin_dataset)).sum())
    assert report["targets"]["kind"] == "dataset" and report["targets"]["count"] == held == len(report["rows"])
    assert all(row["param_mae"] is not None and row["target"].startswith("patch-") for row in report["rows"])
