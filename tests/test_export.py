"""ONNX export: onnxruntime computes what torch computes, the metadata is complete, and a model refuses other synths."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from synthmatch.agent import OnnxAgent, OnnxOneShot
from synthmatch.cli import main
from synthmatch.definitions import SynthDefinition, find_definition
from synthmatch.features import MEL_CEILING_DB, FeatureSettings
from synthmatch.model_folder import METADATA_KEYS, ModelFolderError, ModelMismatch, describe_model, load_metadata
from synthmatch.training import export
from synthmatch.training.checkpoints import save_checkpoint
from synthmatch.training.config import load_config
from synthmatch.training.networks import OBSERVERS, NetworkConfig, OneShotRegressor, Policy, build_observer

torch.set_num_threads(1)

SMALL = NetworkConfig(embed_dim=32, channels=8, hidden=32)


@dataclasses.dataclass
class Exported:
    """A model folder and the torch networks it was exported from."""

    folder: Path
    definition: SynthDefinition
    networks: NetworkConfig
    observer: torch.nn.Module
    policy: Policy
    oneshot: OneShotRegressor


@pytest.fixture(scope="module", params=sorted(OBSERVERS))
def exported(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Exported:
    """A model of every observer architecture, exported (each test runs on each)."""
    definition = find_definition("builtin")
    features = FeatureSettings(sample_rate=definition.note.sample_rate)
    frames, count = features.frames(definition.note.render_samples), len(definition.parameters)
    networks = dataclasses.replace(SMALL, observer=request.param)
    torch.manual_seed(1)
    observer = build_observer(features, frames, networks)
    policy = Policy(networks.embed_dim, count, networks.hidden)
    oneshot = OneShotRegressor(features, frames, count, networks)
    metadata = describe_model(definition, features, networks.to_dict(), max_step=0.05, training={"seconds": 1.5},
                              evaluation={"distance_median": 0.3}, oneshot=True)
    folder = export.export_model(observer, policy, oneshot, metadata, tmp_path_factory.mktemp("model"))
    return Exported(folder, definition, networks, observer, policy, oneshot)


def random_mels(batch: int, seed: int) -> np.ndarray:
    """Log-mels in dB over the whole observation range, [batch, 64, 63]."""
    return np.random.default_rng(seed).uniform(-80.0, MEL_CEILING_DB, (batch, 64, 63)).astype(np.float32)


@pytest.mark.parametrize("batch", [1, 5])
def test_onnxruntime_agent_agrees_with_torch(exported: Exported, batch: int) -> None:
    target, current = random_mels(batch, 1), random_mels(batch, 2)
    params = np.random.default_rng(3).random((batch, 20)).astype(np.float32)
    with torch.no_grad():
        embedding = exported.observer(torch.from_numpy(target), torch.from_numpy(current))
        expected = exported.policy(embedding, torch.from_numpy(params)).numpy()
    actual = OnnxAgent.load(exported.folder, exported.definition).act(target, current, params)
    assert actual.shape == (batch, 20)
    np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)


def test_target_and_current_both_reach_the_exported_observer(exported: Exported) -> None:
    agent = OnnxAgent.load(exported.folder, exported.definition)
    params = np.full((1, 20), 0.5, np.float32)
    target, current = random_mels(1, 4), random_mels(1, 5)
    base = agent.act(target, current, params)
    assert not np.allclose(agent.act(random_mels(1, 6), current, params), base)
    assert not np.allclose(agent.act(target, random_mels(1, 6), params), base)


def test_onnxruntime_oneshot_agrees_with_torch(exported: Exported) -> None:
    target = random_mels(3, 7)
    with torch.no_grad():
        expected = exported.oneshot(torch.from_numpy(target)).numpy()
    actual = OnnxOneShot.load(exported.folder, exported.definition).predict(target)
    np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)


def test_metadata_has_every_field(exported: Exported) -> None:
    data = json.loads((exported.folder / "metadata.json").read_text())
    assert set(METADATA_KEYS) <= set(data)
    assert data["format"] == 2 and load_metadata(exported.folder).equal_loudness
    assert data["synth"] == {"name": "builtin", "sha256": exported.definition.sha256,
                             "parameters": list(exported.definition.parameter_names)}
    assert FeatureSettings.from_dict(data["features"]) == FeatureSettings(sample_rate=16000)
    assert data["mel_ceiling_db"] == MEL_CEILING_DB
    assert data["render_samples"] == 16000
    assert data["max_step"] == 0.05
    assert data["networks"] == exported.networks.to_dict()
    assert data["training"] == {"seconds": 1.5}
    assert data["evaluation"] == {"distance_median": 0.3}
    assert data["files"] == {"observer": "observer.onnx", "policy": "policy.onnx", "oneshot": "oneshot.onnx"}
    assert all((exported.folder / name).is_file() for name in data["files"].values())
    assert data["created"] and data["synthmatch_version"]


def test_export_is_deterministic(exported: Exported, tmp_path: Path) -> None:
    again = tmp_path / "policy.onnx"
    example = (torch.zeros(2, SMALL.embed_dim), torch.zeros(2, 20))
    export.export_onnx(exported.policy, example, ("embedding", "params"), "action", again)
    assert again.read_bytes() == (exported.folder / "policy.onnx").read_bytes()


def renamed(definition: SynthDefinition, old: str, new: str) -> SynthDefinition:
    """``definition`` with parameter ``old`` called ``new``."""
    parameters = tuple(dataclasses.replace(p, name=new) if p.name == old else p for p in definition.parameters)
    return dataclasses.replace(definition, parameters=parameters)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: dataclasses.replace(d, name="other"), "does not fit synth 'other'"),
        (lambda d: dataclasses.replace(d, sha256="0" * 64), "the definition changed since training"),
        (lambda d: renamed(d, "cutoff_hz", "cutoff"), r"lacks \['cutoff'\].*lacks \['cutoff_hz'\]"),
        (lambda d: dataclasses.replace(d, parameters=d.parameters[::-1]), "the order differs"),
        (lambda d: dataclasses.replace(d, note=dataclasses.replace(d.note, sample_rate=48000)), "48000 Hz"),
    ],
    ids=["other synth", "changed hash", "other parameter names", "other order", "other sample rate"],
)
def test_a_model_refuses_a_definition_it_was_not_trained_for(
    exported: Exported, change: Callable[[SynthDefinition], SynthDefinition], message: str
) -> None:
    with pytest.raises(ModelMismatch, match=message) as caught:
        OnnxAgent.load(exported.folder, change(exported.definition))
    assert "synthmatch train" in str(caught.value)  # the fix


def test_a_model_refuses_the_nekobi_definition(exported: Exported) -> None:
    with pytest.raises(ModelMismatch, match="trained for 'builtin'.*does not fit synth 'nekobi'"):
        OnnxAgent.load(exported.folder, find_definition("nekobi"))


def test_broken_model_folders_are_named_with_the_fix(exported: Exported, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        load_metadata(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="metadata.json: missing"):
        load_metadata(tmp_path)
    data = json.loads((exported.folder / "metadata.json").read_text())
    del data["max_step"]
    (tmp_path / "metadata.json").write_text(json.dumps(data))
    with pytest.raises(ModelFolderError, match="missing key.*max_step.*export the model again"):
        load_metadata(tmp_path)
    (tmp_path / "metadata.json").write_text(json.dumps({**data, "max_step": 0.1}))
    with pytest.raises(FileNotFoundError, match="observer.onnx: missing"):
        OnnxAgent.load(tmp_path, exported.definition)


def test_an_export_that_onnxruntime_disagrees_with_leaves_no_model(
    exported: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "AGREEMENT_ATOL", -1.0)  # any difference at all now counts as a mistranslation
    metadata = describe_model(exported.definition, FeatureSettings(), SMALL.to_dict(), max_step=0.1)
    with pytest.raises(RuntimeError, match="onnxruntime differs from torch"):
        export.export_model(exported.observer, exported.policy, None, metadata, tmp_path)
    assert list(tmp_path.iterdir()) == []


def fake_run(run_dir: Path, definition: SynthDefinition, sha256: str | None = None) -> tuple[torch.nn.Module, Policy]:
    """A run folder as `synthmatch train --config smoke` leaves it after behaviour cloning; returns its networks."""
    config = load_config("smoke")
    run_dir.mkdir()
    (run_dir / "config.toml").write_text(config.to_toml())
    features = FeatureSettings(sample_rate=definition.note.sample_rate)
    torch.manual_seed(2)
    observer = build_observer(features, features.frames(definition.note.render_samples), config.networks)
    policy = Policy(config.networks.embed_dim, len(definition.parameters), config.networks.hidden)
    save_checkpoint(run_dir, {
        "observer": observer.state_dict(), "policy": policy.state_dict(),
        "definition_sha256": sha256 or definition.sha256, "features": features.to_dict(), "max_step": 0.1,
        "networks": config.networks.to_dict(), "done": ["bc"], "env_steps": 256, "rl_env_steps": 0, "updates": 20,
        "seconds": 4.5, "stages": {"bc": {"distance_median": 0.62}}, "evaluation": {"distance_median": 0.62},
    })
    return observer, policy


def test_the_export_command_turns_a_run_into_a_measured_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = find_definition("builtin")
    observer, policy = fake_run(tmp_path / "run", definition)
    monkeypatch.setattr(export, "EVALUATION_TARGETS", 3)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "oneshot.onnx").write_bytes(b"stale")  # from an earlier export
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "model")]) == 0
    printed = capsys.readouterr().out
    assert "has not finished (done: bc)" in printed and "3 held-out targets" in printed
    metadata = load_metadata(tmp_path / "model").raw
    training = metadata["training"]
    assert training["seconds"] == 4.5 and training["env_steps"] == 256 and training["complete"] is False
    assert training["networks"] == metadata["networks"] == SMALL.to_dict()
    assert metadata["evaluation"]["training"] == {"distance_median": 0.62}
    figures = metadata["evaluation"]["export"]
    assert figures["targets"] == 3 and figures["steps"] == 8  # the smoke config's episode length
    assert figures["distance_median"] <= figures["distance_start_median"]
    target, current = random_mels(2, 8), random_mels(2, 9)
    params = np.full((2, 20), 0.3, np.float32)
    with torch.no_grad():
        expected = policy(observer(torch.from_numpy(target), torch.from_numpy(current)), torch.from_numpy(params))
    actual = OnnxAgent.load(tmp_path / "model", definition).act(target, current, params)
    np.testing.assert_allclose(actual, expected.numpy(), atol=1e-4, rtol=0)
    assert metadata["files"]["oneshot"] is None and not (tmp_path / "model" / "oneshot.onnx").exists()
    with pytest.raises(FileNotFoundError, match="no oneshot network"):
        OnnxOneShot.load(tmp_path / "model", definition)


def test_a_run_on_another_definition_version_is_not_exported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(tmp_path / "run", find_definition("builtin"), sha256="f" * 64)
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "model")]) == 1
    assert "trained on another version of" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()
