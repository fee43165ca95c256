"""`synthmatch train`: the configuration, the replay buffer, a whole smoke run, and resuming an interrupted run."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from daemon_process import Daemon
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

from synthmatch.cli import main
from synthmatch.training import train as train_module
from synthmatch.training import training_run
from synthmatch.training.checkpoints import checkpoint_path, load_checkpoint, save_checkpoint
from synthmatch.training.config import load_config, shipped_config_names
from synthmatch.training.devices import resolve_device
from synthmatch.training.replay import ReplayBuffer
from synthmatch.training.vector_environment import SynthMatchVectorEnv

STAGES = ["untrained", "bc", "dagger1", "rl"]


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A whole smoke run through the command line: its folder and what it printed."""
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    out = io.StringIO()  # capsys is function-scoped, so this module-scoped run captures by hand
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(["train", "--synth", "builtin", "--config", "smoke", "--out", str(run_dir), "--device", "cpu",
                       "--workers", "2"])  # two rendering processes: the split is what every stage steps
    assert status == 0
    return run_dir, out.getvalue()


# --- configuration ------------------------------------------------------------------------------------------


def test_shipped_configs_load_and_round_trip_through_toml(tmp_path: Path) -> None:
    assert {"builtin", "smoke"} <= set(shipped_config_names())
    for name in shipped_config_names():
        config = load_config(name)
        (tmp_path / "again.toml").write_text(config.to_toml())
        assert load_config(tmp_path / "again.toml") == config


def test_command_line_options_override_the_file() -> None:
    config = load_config("smoke", algo="td3", seed=7, synth=None)
    assert (config.algo, config.seed, config.synth) == ("td3", 7, "builtin")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[imitation]\nbc_sampels = 3\n", "unknown key 'bc_sampels'; did you mean bc_samples"),
        ("num_envs = 'many'\n", "num_envs = 'many' must be an integer"),
        ("[rl]\nbatch_size = 0\n", "batch_size must be > 0, got 0"),
        ("[sac]\ngamma = 1.5\n", "gamma = 1.5 is outside [0, 1)"),
        ("algo = 'sca'\n", "did you mean sac"),
    ],
)
def test_bad_config_files_are_refused_naming_file_key_and_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match="bad.toml") as error:
        load_config(path)
    assert message in str(error.value)


def test_unknown_config_name_lists_the_shipped_ones() -> None:
    with pytest.raises(FileNotFoundError, match="did you mean smoke"):
        load_config("smok")


# --- replay buffer ------------------------------------------------------------------------------------------


def test_replay_keeps_the_finished_episodes_last_state_across_the_autoreset() -> None:
    env = SynthMatchVectorEnv(3, max_episode_steps=1, max_step=0.1)
    obs, _ = env.reset(seed=0)
    buffer = ReplayBuffer(8, (64, 63), 20)
    actions = np.full((3, 20), 0.5, np.float32)
    next_obs, rewards, terminated, truncated, infos = env.step(actions)
    assert truncated.all()  # every episode ended and restarted in this step
    buffer.add(obs, actions, rewards, terminated, next_obs, infos)

    batch = buffer.sample(64, np.random.default_rng(0))
    stored = {tuple(row) for row in batch["next_params"].numpy().round(6)}
    finished = {tuple(row) for row in infos["final_obs"]["params"].round(6)}
    restarted = {tuple(row) for row in next_obs["params"].round(6)}
    assert stored == finished and not stored & restarted
    assert torch.equal(batch["next_target"], batch["target"])
    assert batch["terminated"].sum() == 0  # truncated, so bootstrapped
    assert batch["current"].dtype == torch.float32 and batch["current"].shape == (64, 64, 63)


def test_replay_overwrites_the_oldest_transitions_when_full() -> None:
    buffer = ReplayBuffer(4, (2, 3), 1)
    mel = np.zeros((3, 2, 3), np.float32)
    for value in range(3):
        obs = {"target": mel, "current": mel, "params": np.full((3, 1), value, np.float32)}
        buffer.add(obs, np.zeros((3, 1), np.float32), np.zeros(3), np.zeros(3, bool), obs, {})
    assert len(buffer) == 4
    kept = set(buffer.sample(200, np.random.default_rng(0))["params"].numpy().ravel())
    assert kept == {1.0, 2.0}  # the first step's rows are overwritten


def test_replay_with_a_frozen_observer_keeps_embeddings_of_the_state_and_the_true_next_state() -> None:
    env = SynthMatchVectorEnv(3, max_episode_steps=1, max_step=0.1)
    obs, _ = env.reset(seed=0)

    def embed(observation: dict[str, np.ndarray]) -> np.ndarray:  # the mean of each mel and the first param
        return np.stack([observation["current"].mean((1, 2)), observation["params"][:, 0]], 1).astype(np.float32)

    buffer = ReplayBuffer(8, (64, 63), 20, embed=embed, embed_dim=2)
    actions = np.full((3, 20), 0.5, np.float32)
    next_obs, rewards, terminated, _, infos = env.step(actions)
    buffer.add(obs, actions, rewards, terminated, next_obs, infos)
    batch = buffer.sample(64, np.random.default_rng(0))
    assert {"target", "current", "next_current", "next_target"}.isdisjoint(batch)
    stored = {tuple(row) for row in batch["next_embedding"].numpy().round(4)}
    assert stored == {tuple(row) for row in embed(infos["final_obs"]).round(4)}  # the finished episodes' ends
    assert {tuple(row) for row in batch["embedding"].numpy().round(4)} == {tuple(row) for row in embed(obs).round(4)}


def test_replay_keeps_each_transitions_oracle_step_and_nan_where_the_target_patch_is_unknown() -> None:
    buffer = ReplayBuffer(4, (2, 3), 2)
    mel = np.zeros((2, 2, 3), np.float32)
    obs = {"target": mel, "current": mel, "params": np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)}
    oracle = np.array([[0.5, -0.5], [np.nan, np.nan]], np.float32)
    buffer.add(obs, np.zeros((2, 2), np.float32), np.zeros(2), np.zeros(2, bool), obs, {}, oracle)
    buffer.add(obs, np.zeros((2, 2), np.float32), np.zeros(2), np.zeros(2, bool), obs, {})
    batch = buffer.sample(200, np.random.default_rng(0))
    known = ~torch.isnan(batch["oracle_action"][:, 0])
    assert torch.all(batch["oracle_action"][known] == torch.tensor([0.5, -0.5]))
    assert torch.all(batch["params"][known] == 0.0)  # only the first step's first row had an oracle
    assert 0 < int(known.sum()) < 200


# --- whole runs ---------------------------------------------------------------------------------------------


def test_smoke_run_writes_config_checkpoint_summary_and_logs(smoke_run: tuple[Path, str]) -> None:
    run_dir, printed = smoke_run
    assert load_config(run_dir / "config.toml") == load_config("smoke")
    checkpoint = torch.load(checkpoint_path(run_dir), weights_only=True)
    assert checkpoint["done"] == ["bc", "dagger1", "rl"]
    assert {"observer", "policy", "definition_sha256", "algorithm", "random"} <= set(checkpoint)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [row["stage"] for row in summary["stages"]] == STAGES
    assert summary["stages"][-1]["env_steps"] == load_config("smoke").rl.total_env_steps
    assert summary["final"]["distance_median"] > 0.0
    assert 0.0 <= summary["final"]["success_rate"] <= 1.0
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    for stage in STAGES:
        assert f"\n{stage} " in printed


def test_interrupted_run_resumes_where_it_stopped(
    smoke_run: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    args = argparse.Namespace(synth="builtin", config=Path("smoke"), algo=None, seed=None, out=run_dir, device="auto",
                              workers=1)

    interrupt_after_checkpoint(monkeypatch, 1)  # right after behaviour cloning
    with pytest.raises(KeyboardInterrupt):
        train_module.run_train(args)
    first = load_checkpoint(run_dir)
    assert first is not None and first["done"] == ["bc"] and not (run_dir / "summary.json").exists()

    interrupt_after_checkpoint(monkeypatch, 2)  # DAgger, then the first checkpoint in the middle of RL
    with pytest.raises(KeyboardInterrupt):
        train_module.run_train(args)
    second = load_checkpoint(run_dir)
    assert second is not None and second["done"] == ["bc", "dagger1"]
    assert 0 < second["rl_env_steps"] < load_config("smoke").rl.total_env_steps
    assert second["stages"]["bc"] == first["stages"]["bc"]  # behaviour cloning was not done again

    monkeypatch.undo()
    assert train_module.run_train(args) == 0
    resumed = json.loads((run_dir / "summary.json").read_text())
    uninterrupted = json.loads((smoke_run[0] / "summary.json").read_text())
    assert resumed["resumes"] == 2
    assert [row["stage"] for row in resumed["stages"]] == STAGES
    assert resumed["env_steps"] == uninterrupted["env_steps"]
    final = load_checkpoint(run_dir)
    assert final is not None and final["algorithm"]["updates"] > second["algorithm"]["updates"]


def test_a_failing_stage_closes_the_tensorboard_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever ends the training, the log is flushed and closed (its writer thread gone), not left open."""
    def fail(*args: Any) -> None:
        raise RuntimeError("the environment worker died")

    monkeypatch.setattr(train_module, "imitate", fail)
    run = training_run.TrainingRun(load_config("smoke"), tmp_path / "run", progress=False)
    with pytest.raises(RuntimeError, match="worker died"):
        train_module.run_stages(run)
    assert run.writer is not None and run.writer.file_writer is None  # what SummaryWriter.close leaves
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))  # and the untrained net's figures


def test_cuda_without_a_gpu_is_refused_in_one_line_before_the_run_folder_is_made(
    tmp_path: Path, capsys: Any
) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    run_dir = tmp_path / "run"
    assert main(["train", "--synth", "builtin", "--config", "smoke", "--out", str(run_dir), "--device", "cuda"]) != 0
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--device cuda: torch" in line and "use --device cpu" in line
    assert not run_dir.exists()


def test_more_workers_than_environments_is_refused_in_one_line_before_the_run_folder_is_made(
    tmp_path: Path, capsys: Any
) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", "--synth", "builtin", "--config", "smoke", "--out", str(run_dir), "--workers", "9"]) != 0
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--workers 9: give 1 to num_envs (8)" in line
    assert not run_dir.exists()


def test_auto_is_cuda_where_torch_sees_a_gpu_else_the_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected and resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="choose one of auto, cpu, cuda"):
        resolve_device("tpu")


def test_resuming_with_another_configuration_is_refused(smoke_run: tuple[Path, str]) -> None:
    args = argparse.Namespace(synth="builtin", config=Path("smoke"), algo="td3", seed=None, out=smoke_run[0])
    with pytest.raises(ValueError, match="algo: 'sac' -> 'td3'.*give a new --out"):
        train_module.resolve_config(args)


def test_a_finished_run_only_prints_its_summary_again(smoke_run: tuple[Path, str], capsys: Any) -> None:
    before = checkpoint_path(smoke_run[0]).stat().st_mtime_ns
    assert main(["train", "--synth", "builtin", "--out", str(smoke_run[0])]) == 0
    assert checkpoint_path(smoke_run[0]).stat().st_mtime_ns == before
    assert "\nrl " in capsys.readouterr().out


def interrupt_after_checkpoint(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Make the training loop stop with Ctrl-C right after its ``count``-th checkpoint from now is written."""
    written = []
    monkeypatch.undo()

    def save_then_interrupt(run_dir: Path, state: dict[str, Any]) -> Path:
        path = save_checkpoint(run_dir, state)
        written.append(path)
        if len(written) == count:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(training_run, "save_checkpoint", save_then_interrupt)


def test_a_trained_and_exported_run_is_a_model_the_daemon_loads_and_matches_with(
    smoke_run: tuple[Path, str], tmp_path: Path, target_wav: Path
) -> None:
    model = tmp_path / "model"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["export", str(smoke_run[0]), "--out", str(model)]) == 0
    assert sorted(path.name for path in model.iterdir()) == ["metadata.json", "observer.onnx", "policy.onnx"]
    daemon = Daemon("--model", str(model))
    try:
        assert str(model) in "".join(daemon.banner)
        with SimpleUDPClient("127.0.0.1", daemon.port) as client:
            client.send_message("/synthmatch/target/load", [str(target_wav), 48])
            assert OscMessage(client.receive(10.0)).address == "/synthmatch/target/loaded"
            client.send_message("/synthmatch/match/start", [4])
            replies = [OscMessage(client.receive(10.0)) for _ in range(5)]
        assert [reply.address for reply in replies] == ["/synthmatch/progress"] * 4 + ["/synthmatch/match/done"]
    finally:
        status, _, stderr = daemon.stop()
    assert status == 0 and "Traceback" not in stderr
