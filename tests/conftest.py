"""Fixtures shared by several test files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from synthmatch.definitions import load_definition
from synthmatch.synths.vst3 import PluginNotFound, Vst3Synth

NEKOBI_TOML = Path(str(resources.files("synthmatch.synthdefs").joinpath("nekobi.toml")))


@pytest.fixture(scope="session")
def nekobi_synth() -> Vst3Synth:
    """The shipped Nekobi definition on the real plugin, loaded once per session; skipped when not built."""
    try:
        return Vst3Synth(load_definition(NEKOBI_TOML))
    except PluginNotFound:
        pytest.skip("Nekobi not built: run scripts/build-nekobi.sh")
