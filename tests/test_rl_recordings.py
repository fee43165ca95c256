"""Recordings as RL targets: the vector environment mixes them in, and a run trains on them with the probe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from test_evaluate import write_wav

from synthmatch.cli import main
from synthmatch.synths import open_synth
from synthmatch.training.config import RLConfig, load_config
from synthmatch.training.targets import folder_targets
from synthmatch.training.vector_environment import SynthMatchVectorEnv

NOTES = (45, 67)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of two recordings: the built-in synth's default patch at notes 45 and 67."""
    folder = tmp_path_factory.mktemp("recordings")
    synth = open_synth("builtin")
    defaults = np.array(synth.definition.defaults_normalised())
    for note in NOTES:
        write_wav(folder / f"note{note}.wav", synth.render(defaults[None], note)[0], synth.sample_rate)
    return folder


def recording_env(folder: Path, share: float) -> SynthMatchVectorEnv:
    synth = open_synth("builtin")
    return SynthMatchVectorEnv(64, synth=synth, recordings=folder_targets(synth, folder), recording_share=share)


def test_every_episode_takes_a_recording_at_its_pitch_and_no_patch(recordings: Path) -> None:
    _, info = recording_env(recordings, 1.0).reset(seed=3)
    assert not info["_target_params"].any() and np.isnan(info["target_params"]).all()
    assert set(info["note"]) == set(NOTES)


def test_a_share_mixes_recordings_with_patches_reproducibly_and_reset_options_turn_them_off(recordings: Path) -> None:
    env = recording_env(recordings, 0.5)
    _, first = env.reset(seed=3)
    known = first["_target_params"]
    assert 0.25 < known.mean() < 0.75
    _, again = env.reset(seed=3)
    np.testing.assert_array_equal(again["_target_params"], known)
    np.testing.assert_array_equal(again["note"], first["note"])
    _, given = env.reset(seed=3, options={"start": "default"})
    assert given["_target_params"].all()


def test_episodes_that_end_restart_with_recordings_too(recordings: Path) -> None:
    env = SynthMatchVectorEnv(8, synth="builtin", max_episode_steps=1,
                              recordings=folder_targets(open_synth("builtin"), recordings), recording_share=1.0)
    env.reset(seed=0)
    *_, infos = env.step(np.zeros((8, 20), np.float32))
    assert infos["_final_obs"].all() and not infos["_target_params"].any()


def test_a_share_without_recordings_is_refused() -> None:
    with pytest.raises(ValueError, match="recordings is empty; give a folder"):
        RLConfig(recording_share=0.5)
    with pytest.raises(ValueError, match="be 0 without recordings"):
        SynthMatchVectorEnv(2, synth="builtin", recording_share=0.5)


def test_a_probe_run_trains_on_recordings_and_a_missing_folder_is_named(
    recordings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_config("smoke").to_dict()
    settings["algo"] = "probe"
    settings["rl"] |= {"recordings": str(recordings), "recording_share": 0.5}
    path = tmp_path / "probe.toml"
    path.write_text(tomli_w.dumps(settings))
    assert load_config(path).rl.recordings == str(recordings)
    run_dir = tmp_path / "run"
    assert main(["train", "--synth", "builtin", "--config", str(path), "--out", str(run_dir)]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["algo"] == "probe" and summary["stages"][-1]["stage"] == "rl"
    assert summary["stages"][-1]["updates"] > 0
    settings["rl"]["recordings"] = str(tmp_path / "absent")
    path.write_text(tomli_w.dumps(settings))
    assert main(["train", "--synth", "builtin", "--config", str(path), "--out", str(tmp_path / "run2")]) != 0
    assert "absent': no such folder" in capsys.readouterr().err
    assert not (tmp_path / "run2" / "checkpoints").exists()  # refused before any training
