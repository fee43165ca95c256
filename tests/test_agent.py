"""The live agent: no torch in the live wing, deterministic batched steps, single-threaded sessions, clear defaults."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from synthmatch.agent import OnnxAgent, default_model_dir, open_session
from synthmatch.definitions import SynthDefinition, find_definition
from synthmatch.features import MEL_CEILING_DB

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def builtin() -> SynthDefinition:
    return find_definition("builtin")


@pytest.fixture(scope="module")
def agent(builtin: SynthDefinition, tiny_model_dir: Path) -> OnnxAgent:
    return OnnxAgent.load(tiny_model_dir, builtin)


def test_the_core_and_the_live_wing_never_import_torch_or_training() -> None:
    """Import every module of ``synthmatch/`` and ``daemon/``: neither torch nor the offline wing may come along."""
    code = (
        "import pkgutil, sys, importlib, synthmatch, synthmatch.daemon\n"
        "for pkg in (synthmatch, synthmatch.daemon):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if not m.name.startswith(('synthmatch.training', 'synthmatch.models', 'synthmatch.__main__')):\n"
        "            importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n == 'torch' or n.startswith('synthmatch.training')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_actions_are_deterministic_bounded_and_per_row(agent: OnnxAgent) -> None:
    rng = np.random.default_rng(0)
    target = rng.uniform(-80.0, MEL_CEILING_DB, (4, 64, 63)).astype(np.float32)
    current = rng.uniform(-80.0, MEL_CEILING_DB, (4, 64, 63)).astype(np.float32)
    params = rng.random((4, 20)).astype(np.float32)
    actions = agent.act(target, current, params)
    assert actions.shape == (4, 20) and actions.dtype == np.float32
    assert np.all(np.abs(actions) <= 1.0)
    np.testing.assert_array_equal(agent.act(target, current, params), actions)
    alone = agent.act(target[2:3], current[2:3], params[2:3])[0]  # onnxruntime's GEMMs round by batch size and CPU
    np.testing.assert_allclose(alone, actions[2], atol=1e-5)


def test_observe_hears_any_level_alike_and_stays_in_the_observation_space(agent: OnnxAgent) -> None:
    loud = 100.0 * np.sin(2 * np.pi * 440.0 * np.arange(16000) / 16000)  # 40 dB above full scale
    mel = agent.observe(np.stack([loud, loud / 1e4, np.zeros_like(loud)]))  # and 40 dB below it
    assert mel.shape == (3, 64, 63)
    assert agent.features.floor_db <= mel.min() and mel.max() <= MEL_CEILING_DB
    np.testing.assert_allclose(mel[0], mel[1], atol=1e-3)  # level is the fader's business (synthmatch.loudness)
    assert np.all(mel[2] == agent.features.floor_db)


def test_sessions_use_one_thread_unless_asked(agent: OnnxAgent) -> None:
    path = agent.metadata.path("policy")
    assert open_session(path).get_session_options().intra_op_num_threads == 1
    assert open_session(path, threads=2).get_session_options().intra_op_num_threads == 2


def test_the_agent_takes_the_models_step_size(agent: OnnxAgent) -> None:
    assert agent.max_step == agent.metadata.raw["max_step"] == 0.1
    assert agent.parameter_count == 20


def test_without_a_shipped_model_the_error_says_how_to_make_one(builtin: SynthDefinition) -> None:
    unknown = dataclasses.replace(builtin, name="nosuchsynth")
    with pytest.raises(FileNotFoundError, match="no shipped model for 'nosuchsynth'") as caught:
        default_model_dir(unknown)
    assert "--model DIR" in str(caught.value)
    assert "synthmatch train --synth nosuchsynth" in str(caught.value)
    assert "synthmatch export" in str(caught.value)


def test_a_model_folder_that_is_not_one_is_named(builtin: SynthDefinition, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}.*not a model folder"):
        OnnxAgent.load(tmp_path, builtin)
