"""A patch's .vstpreset loaded back into a fresh instance of the real plugin (Nekobi) with pedalboard.

Tolerances: a continuous parameter's raw value (0..1) read back must be within 1e-4 of the one the patch sets (DPF
keeps a value as text of 12 significant digits, the host as float32). The loaded instance must play the patch: its
note within 0.02 nepers (multi-resolution STFT distance, synthmatch.distances) of the same note rendered by
Vst3Synth, where the other waveform is 0.04..0.07 away and moving the cutoff by 5 % of its range 0.035..0.08 (the
oscillator's start phase differs between a fresh and a re-created instance, hence no sample-by-sample comparison).
Nekobi's controller shows its stepped waveform at the default after a load although its processor (what is heard)
has the preset's, so the waveform is compared by the sound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthmatch.distances import multires_stft_distance
from synthmatch.params import quantise_all
from synthmatch.patch_exports import Exports
from synthmatch.synths.vst3 import Vst3Synth, find_plugin, load_instrument

pytestmark = pytest.mark.vst3

RAW_TOLERANCE = 1e-4
DISTANCE_TOLERANCE = 0.02


def note_of(plugin: Any, synth: Vst3Synth, note: int) -> np.ndarray:
    """One note played by ``plugin`` as it is now (no reset, which would re-create it), as Vst3Synth plays it."""
    settings = synth.definition.note
    midi = [(bytes([0x90, note, settings.velocity]), 0.0), (bytes([0x80, note, 64]), settings.note_seconds)]
    out = plugin.process(midi, duration=settings.render_seconds, sample_rate=synth.sample_rate, num_channels=1,
                         reset=False)
    return np.asarray(out[0, : settings.render_samples])


@pytest.mark.parametrize("seed", [0, 1])
def test_a_written_preset_loads_back_with_the_patchs_parameters(
    nekobi_synth: Vst3Synth, tmp_path: Path, seed: int
) -> None:
    definition = nekobi_synth.definition
    patch = quantise_all(definition, np.random.default_rng(seed).random(len(definition.parameters)))
    patch[0] = seed  # the waveform: square, then triangle (not the default, so a lost value shows)
    path = tmp_path / "bass.vstpreset"
    assert Exports(preset=path).write(definition, patch, nekobi_synth) == [path]
    assert path.read_bytes().startswith(b"VST3")

    fresh = load_instrument(find_plugin(definition))
    fresh.load_preset(str(path))
    wanted = nekobi_synth.raw_values(patch)[0]
    bindings = nekobi_synth._bindings
    for binding, raw in zip(bindings, wanted, strict=True):
        if binding.units is not None:  # continuous
            assert fresh._parameters[binding.index].raw_value == pytest.approx(raw, abs=RAW_TOLERANCE), \
                binding.parameter.name
    heard = note_of(fresh, nekobi_synth, 45)
    other = patch.copy()
    other[0] = 1 - seed
    distances = multires_stft_distance(np.stack([heard, heard]), nekobi_synth.render(np.stack([patch, other]), 45))
    assert distances[0] < DISTANCE_TOLERANCE < distances[1]  # the patch's waveform, not the other one


def test_a_preset_is_read_after_the_values_reach_the_processor(nekobi_synth: Vst3Synth) -> None:
    definition = nekobi_synth.definition
    low, high = (np.full(len(definition.parameters), x) for x in (0.1, 0.9))
    assert nekobi_synth.preset_data(low) != nekobi_synth.preset_data(high)
    assert nekobi_synth.preset_data(high) == nekobi_synth.preset_data(high)
