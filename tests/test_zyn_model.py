"""The shipped ZynAddSubFX model (trained from recordings alone, issue 13): it fits the shipped definition, the daemon
and `synthmatch synths` choose it, it stays under 20 MB, and it answers what it hears with a step.

Live matching with it is measured by `python -m bench zyn_live` and run end to end by test_daemon_live."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from synthmatch.agent import OnnxAgent, default_model_dir
from synthmatch.definitions import find_definition
from synthmatch.model_choice import choose_matcher
from synthmatch.model_folder import load_metadata

ZYN = find_definition("zynaddsubfx")
#: The issue's limit on a shipped model folder.
MAX_BYTES = 20_000_000


def saw_note(rate: int, samples: int, hz: float, decay_s: float) -> np.ndarray:
    """A decaying saw: a stand-in for one of Zyn's notes (its definition's voice is a saw)."""
    t = np.arange(samples) / rate
    return (0.3 * (2 * ((t * hz) % 1.0) - 1) * np.exp(-t / decay_s)).astype(np.float32)


def test_the_daemon_chooses_the_shipped_zynaddsubfx_model() -> None:
    choice = choose_matcher(ZYN)
    assert choice.model_dir == default_model_dir(ZYN) and choice.method == "agent"
    assert choice.banner() == f"model {default_model_dir(ZYN)}"
    metadata = load_metadata(choice.model_dir)
    metadata.check_fits(ZYN)  # the definition the data sets were recorded with
    assert metadata.equal_loudness
    assert sum(p.stat().st_size for p in choice.model_dir.iterdir()) < MAX_BYTES


def test_synths_lists_zynaddsubfx_with_its_model() -> None:
    listed = subprocess.run([sys.executable, "-m", "synthmatch", "synths", "--json"], capture_output=True, text=True,
                            check=True, timeout=120).stdout
    row = next(r for r in json.loads(listed) if r["name"] == "zynaddsubfx")
    assert row["matches_by"] == "agent" and Path(row["model"]) == default_model_dir(ZYN)


def test_the_model_steps_each_parameter_within_bounds_and_hears_the_target() -> None:
    agent = OnnxAgent.load(default_model_dir(ZYN), ZYN)
    rate, samples = ZYN.note.sample_rate, ZYN.note.render_samples
    current = agent.observe(saw_note(rate, samples, 220.0, 0.2)[None], at_equal_loudness=True)
    params = np.asarray(ZYN.defaults_normalised(), dtype=np.float32)[None]
    steps = [agent.act(agent.observe(saw_note(rate, samples, 220.0, decay)[None], at_equal_loudness=True), current,
                       params)[0]
             for decay in (0.05, 1.0)]
    for step in steps:
        assert step.shape == (len(ZYN.parameters),) and np.all(np.abs(step) <= 1.0)
    assert np.abs(steps[0] - steps[1]).max() > 1e-3  # another target, another step: it listens
