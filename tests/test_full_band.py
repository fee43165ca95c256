"""The full-band judge: the sound `--audio-out` writes, resampled to the target's rate, against the target there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pedalboard.io import AudioFile

from synthmatch.definitions import find_definition
from synthmatch.full_band import full_band_distance, read_full_band, resampled
from synthmatch.output_level import set_output_level
from synthmatch.params import quantise_all
from synthmatch.prepared_target import read_prepared_target
from synthmatch.synths import open_synth


def test_the_patch_that_made_a_sound_is_closer_full_band_than_the_default_and_bright_noise_counts(
    tmp_path: Path,
) -> None:
    """A built-in note upsampled to 48 kHz: its own patch is near 0; the same file with noise above 8 kHz, which
    the synth's 16 kHz cannot hear, is further full-band though no closer patch exists at the synth's rate."""
    base = find_definition("builtin")
    patch = quantise_all(base, np.random.default_rng(4).random(len(base.parameters)))
    clean = resampled(open_synth(base).render(patch[None], 55)[0], base.note.sample_rate, 48000)
    hiss = np.random.default_rng(0).standard_normal(clean.size).astype(np.float32)
    hiss -= resampled(resampled(hiss, 48000, 16000), 16000, 48000)[: hiss.size]  # only above 8 kHz is left
    distances = {}
    for name, audio in (("clean", clean), ("bright", clean + 0.3 * np.std(clean) * hiss)):
        path = tmp_path / f"{name}.wav"
        with AudioFile(str(path), "w", samplerate=48000, num_channels=1) as file:
            file.write(audio[None])
        target = read_prepared_target(path, base, note_seconds=base.note.note_seconds)
        full_band = read_full_band(path)
        assert full_band.sample_rate == 48000
        synth = open_synth(target.definition)
        for label, params in (("own", patch), ("default", np.array(base.defaults_normalised()))):
            level = set_output_level(synth, quantise_all(base, params), target.audio, target.note)
            distances[name, label] = full_band_distance(target, full_band, level)
    assert distances["clean", "own"] < 0.1 < distances["clean", "default"]
    assert distances["bright", "own"] > distances["clean", "own"] + 0.05
