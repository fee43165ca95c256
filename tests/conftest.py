"""Fixtures shared by several test files."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from pedalboard.io import AudioFile

from synthmatch.definitions import find_definition, load_definition
from synthmatch.model_folder import RELAY_FOLDER
from synthmatch.params import quantise_all
from synthmatch.synths import Synth, open_synth
from synthmatch.synths.vst3 import PluginNotFound, Vst3Synth

# Hypothesis's per-example deadline (200 ms) is a timing assertion: on a loaded CI machine a fast example can take
# longer, and the test fails for speed, not behaviour. Speed lives in bench/; the suite never times examples.
settings.register_profile("synthmatch", deadline=None)
settings.load_profile("synthmatch")

NEKOBI_TOML = Path(str(resources.files("synthmatch.synthdefs").joinpath("nekobi.toml")))


@pytest.fixture(scope="session")
def nekobi_synth() -> Vst3Synth:
    """The shipped Nekobi definition on the real plugin, loaded once per session; skipped when not built."""
    try:
        return Vst3Synth(load_definition(NEKOBI_TOML))
    except PluginNotFound:
        pytest.skip("Nekobi not built: run scripts/build-nekobi.sh")


@pytest.fixture(scope="session")
def synth() -> Synth:
    """The built-in synth, opened once per session (a test file may define its own ``synth`` instead)."""
    return open_synth("builtin")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised model folder for the builtin synth (agent and one-shot head), exported once.

    For tests that need some valid model, not a good one; tests must not change it. torch is imported here, not at
    the top, so that collecting the torch-free tests imports no torch.
    """
    from synthmatch.training.export import export_untrained_model
    from synthmatch.training.networks import NetworkConfig

    small = NetworkConfig(embed_dim=32, channels=8, hidden=32)
    return export_untrained_model(find_definition("builtin"), tmp_path_factory.mktemp("model"), small)


@pytest.fixture(scope="session")
def relayed_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model folder with a relay: another tiny untrained agent (seed 1) in its ``relay/`` subfolder."""
    from synthmatch.training.export import export_untrained_model
    from synthmatch.training.networks import NetworkConfig

    folder = tmp_path_factory.mktemp("relayed") / "model"
    shutil.copytree(tiny_model_dir, folder)
    small = NetworkConfig(embed_dim=32, channels=8, hidden=32)
    export_untrained_model(find_definition("builtin"), folder / RELAY_FOLDER, small, seed=1, oneshot=False)
    return folder


@pytest.fixture(scope="session")
def held_out_target() -> tuple[np.ndarray, int]:
    """An audible held-out random patch of the built-in synth (seed 11): its sound and its note.

    The training package is imported here, not at the top, so that collecting the torch-free tests imports no torch.
    """
    from synthmatch.training.targets import random_targets

    held_out = random_targets(open_synth("builtin"), 1, seed=11)[0]
    return held_out.audio, held_out.note


@pytest.fixture(scope="module")
def target_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WAV of a random built-in patch at note 48, for the daemon tests (modules may define their own)."""
    synth = open_synth("builtin")
    patch = quantise_all(synth.definition, np.random.default_rng(21).random(len(synth.parameters)))
    path = tmp_path_factory.mktemp("target") / "target.wav"
    with AudioFile(str(path), "w", samplerate=synth.sample_rate, num_channels=1) as file:
        file.write(synth.render(patch[None], 48))
    return path
