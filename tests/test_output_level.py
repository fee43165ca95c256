"""The output level (synthmatch.output_level): a few renders bring a patch to the target's loudness, or clip."""

from __future__ import annotations

import numpy as np
import pytest

from synthmatch.definitions import SynthDefinition
from synthmatch.loudness import loudness_db
from synthmatch.output_level import LEVEL_RENDERS, LEVEL_TOLERANCE_DB, output_level_parameter, set_output_level
from synthmatch.params import quantise_all
from synthmatch.synths import Synth, open_synth
from synthmatch.synths.vst3 import Vst3Synth

#: The built-in synth's volume moves in MIDI steps of 30 dB / 127: the search gets within one of them.
BUILTIN_TOLERANCE_DB = 30 / 127


def patches(definition: SynthDefinition, count: int, seed: int) -> np.ndarray:
    """``count`` random patches of ``definition``, quantised as the daemon sends them."""
    return quantise_all(definition, np.random.default_rng(seed).random((count, len(definition.parameters))))


def with_volume(synth: Synth, params: np.ndarray, value: float) -> np.ndarray:
    """``params`` with the output-level parameter at the normalised ``value``."""
    index = output_level_parameter(synth.definition)
    assert index is not None
    changed = np.array(params)
    changed[index] = value
    return changed


def reach_dbfs(synth: Synth, params: np.ndarray, note: int) -> tuple[float, float]:
    """The loudness of ``params`` with its volume at the bottom and at the top of its range."""
    ends = np.stack([with_volume(synth, params, 0.0), with_volume(synth, params, 1.0)])
    low, high = loudness_db(synth.render(quantise_all(synth.definition, ends), note))
    return float(low), float(high)


def target_at(synth: Synth, params: np.ndarray, note: int, dbfs: float) -> np.ndarray:
    """A target: another patch's note (a fixed one) brought to a loudness of ``dbfs``."""
    other = with_volume(synth, patches(synth.definition, 1, seed=99)[0], 0.5)
    heard = synth.render(other[None], note)[0]
    return heard * np.float32(10 ** ((dbfs - loudness_db(heard)[0]) / 20))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_a_reachable_level_is_met_within_one_volume_step_in_a_few_renders(seed: int, fraction: float) -> None:
    synth = open_synth("builtin")
    note = synth.definition.note.midi_note
    params = patches(synth.definition, 1, seed)[0]
    low, high = reach_dbfs(synth, params, note)
    wanted = low + fraction * (high - low)
    level = set_output_level(synth, params, target_at(synth, params, note, wanted), note)
    assert level.parameter == "volume_db" and level.target_loudness_dbfs == pytest.approx(wanted, abs=0.01)
    assert abs(level.gain_db) <= BUILTIN_TOLERANCE_DB, (low, high, wanted, level.gain_db)
    assert 2 <= level.renders <= LEVEL_RENDERS
    # What it reports is what the patch it returns sounds like: its render plus the gain is the target's loudness.
    rendered = float(loudness_db(synth.render(level.params[None], note))[0])
    assert rendered + level.gain_db == pytest.approx(wanted, abs=1e-3)


def test_a_target_beyond_the_volume_s_reach_clips_to_an_end_and_reports_the_rest_as_gain() -> None:
    synth = open_synth("builtin")
    note = synth.definition.note.midi_note
    params = patches(synth.definition, 1, seed=4)[0]
    index = output_level_parameter(synth.definition)
    low, high = reach_dbfs(synth, params, note)
    loud = set_output_level(synth, params, target_at(synth, params, note, high + 6.0), note)
    assert loud.params[index] == 1.0 and loud.gain_db == pytest.approx(6.0, abs=1e-3) and loud.renders == 1
    quiet = set_output_level(synth, params, target_at(synth, params, note, low - 10.0), note)
    assert quiet.params[index] == 0.0 and quiet.gain_db == pytest.approx(-10.0, abs=1e-3) and quiet.renders == 2


def test_without_the_volume_the_whole_level_is_a_gain_from_one_render() -> None:
    synth = open_synth("builtin")
    note = synth.definition.note.midi_note
    params = patches(synth.definition, 1, seed=5)[0]
    level = set_output_level(synth, params, target_at(synth, params, note, -40.0), note, by_volume=False)
    assert level.parameter is None and level.renders == 1
    np.testing.assert_array_equal(level.params, params)
    rendered = float(loudness_db(synth.render(params[None], note))[0])
    assert level.gain_db == pytest.approx(-40.0 - rendered, abs=1e-3)


@pytest.mark.vst3
@pytest.mark.parametrize("wanted", [-45.0, -35.0, -28.0])
def test_nekobi_s_volume_in_percent_meets_the_level_within_tolerance(nekobi_synth: Vst3Synth, wanted: float) -> None:
    """Nekobi's loudness is close to a line in the logarithm of its volume, not in the volume: the search finds out."""
    note = nekobi_synth.definition.note.midi_note
    params = with_volume(nekobi_synth, np.array(nekobi_synth.definition.defaults_normalised()), 0.5)
    level = set_output_level(nekobi_synth, params, target_at(nekobi_synth, params, note, wanted), note)
    assert level.parameter == "volume" and abs(level.gain_db) <= LEVEL_TOLERANCE_DB
    assert level.renders <= LEVEL_RENDERS
