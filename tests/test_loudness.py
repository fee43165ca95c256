"""Loudness and the equal-loudness front end: a target's level changes neither features, distances nor matches."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from synthmatch.agent import OnnxAgent, default_model_dir
from synthmatch.definitions import find_definition
from synthmatch.distances import log_spectra, log_spectra_distance
from synthmatch.features import FeatureSettings, observe_mel
from synthmatch.loudness import (
    BLOCK_SAMPLES,
    QUIET_FLOOR_DBFS,
    REFERENCE_DBFS,
    equal_loudness,
    loudness_db,
    loudness_gain,
)
from synthmatch.matching import match_with_agent
from synthmatch.synths import open_synth

RATE = 16000


def at_peak_dbfs(audio: npt.NDArray[np.float32], peak_dbfs: float) -> npt.NDArray[np.float32]:
    """``audio`` scaled so that its peak is ``peak_dbfs`` dB re full scale."""
    return (audio * (10 ** (peak_dbfs / 20) / np.max(np.abs(audio)))).astype(np.float32)


def test_a_steady_sine_has_the_textbook_rms() -> None:
    t = np.arange(RATE) / RATE
    sine = 0.5 * np.sin(2 * np.pi * 440 * t)
    assert loudness_db(sine)[0] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)


def test_only_the_sounding_note_counts_not_the_silence_after_it() -> None:
    t = np.arange(RATE) / RATE
    short = np.where(t < 0.25, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0)
    long = 0.5 * np.sin(2 * np.pi * 440 * t)
    assert loudness_db(short)[0] == pytest.approx(loudness_db(long)[0], abs=0.2)  # the block cut at 0.25 s counts


def test_equal_loudness_brings_every_audible_row_to_the_reference_and_leaves_silence() -> None:
    t = np.arange(RATE) / RATE
    rows = np.stack([0.9 * np.sin(2 * np.pi * 220 * t), 0.001 * np.sign(np.sin(2 * np.pi * 110 * t)),
                     np.zeros_like(t), 1e-5 * np.sin(2 * np.pi * 440 * t)]).astype(np.float32)
    levels = loudness_db(equal_loudness(rows))
    assert levels[:2] == pytest.approx([REFERENCE_DBFS] * 2, abs=1e-3)
    assert levels[2] == -np.inf
    assert loudness_db(rows[3])[0] < QUIET_FLOOR_DBFS and loudness_gain(rows[3])[0] == 1.0  # too quiet: untouched


def test_a_row_is_scaled_the_same_whatever_else_is_in_the_batch() -> None:
    rng = np.random.default_rng(0)
    batch = (rng.standard_normal((5, 3 * BLOCK_SAMPLES + 17)) * [[1], [0.1], [0.01], [2], [0.3]]).astype(np.float32)
    assert loudness_gain(batch)[3] == loudness_gain(batch[3])[0]


def test_the_observer_hears_the_same_log_mel_at_any_level() -> None:
    synth = open_synth("builtin")
    audio = synth.render(np.full(len(synth.parameters), 0.5), 60)
    settings = FeatureSettings(sample_rate=synth.sample_rate)
    loud, quiet = observe_mel(at_peak_dbfs(audio, -1), settings), observe_mel(at_peak_dbfs(audio, -25), settings)
    assert np.max(np.abs(loud - quiet)) < 1e-3


@pytest.mark.parametrize("steps", [8])
def test_the_same_target_at_minus_1_13_and_25_dbfs_peak_gives_the_same_match(steps: int) -> None:
    definition = find_definition("builtin")
    synth, agent = open_synth(definition), OnnxAgent.load(default_model_dir(definition), definition)
    patch = np.random.default_rng(7).uniform(size=len(synth.parameters))
    target = synth.render(patch, 52)[0]
    results = [match_with_agent(synth, agent, at_peak_dbfs(target, level), 52, steps) for level in (-1, -13, -25)]
    starts = [r.distance_start for r in results]
    assert starts == pytest.approx([starts[0]] * 3, rel=1e-6)
    distances = [r.distance for r in results]
    assert max(distances) <= 1.05 * min(distances), distances
    assert distances[0] < starts[0]  # the agent did move towards the target


def test_the_cached_target_spectra_do_not_see_the_targets_level() -> None:
    synth = open_synth("builtin")
    target = synth.render(np.full(len(synth.parameters), 0.3), 60)
    candidates = synth.render(np.random.default_rng(1).uniform(size=(4, len(synth.parameters))), 60)
    loud = log_spectra_distance(log_spectra(at_peak_dbfs(target, -1)), log_spectra(candidates))
    quiet = log_spectra_distance(log_spectra(at_peak_dbfs(target, -25)), log_spectra(candidates))
    assert loud == pytest.approx(quiet, rel=1e-6)
