"""The built-in synth: what a user hears (pitch, filter, envelopes, no aliasing, no clipping) and its contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import synthmatch
from synthmatch.definitions import SynthDefinition, load_definition, parse_definition
from synthmatch.features import FeatureSettings, log_mel
from synthmatch.params import normalise_all
from synthmatch.synths import Synth
from synthmatch.synths.builtin import BuiltinSynth
from synthmatch.synths.envelopes import adsr
from synthmatch.synths.filters import LadderFilter, frame_spectra, ladder_response_at, overlap_add

BUILTIN_TOML = Path(synthmatch.__file__).parent / "synthdefs" / "builtin.toml"

#: A patch where every parameter is in play: both oscillators, noise, a moving filter, vibrato and wah.
BUSY = {"osc1_shape": 2.0, "osc2_shape": 0.0, "noise_level": 0.05, "cutoff_hz": 2000.0, "filter_env_octaves": 3.0,
        "lfo_pitch_semitones": 0.5, "lfo_cutoff_octaves": 1.0}
#: One plain oscillator through an open filter with a flat envelope: what pitch and aliasing are measured on.
PLAIN = {"osc_mix": 0.0, "noise_level": 0.0, "cutoff_hz": 16000.0, "resonance": 0.0, "filter_env_octaves": 0.0,
         "key_tracking": 0.0, "amp_attack_s": 0.001, "amp_sustain": 1.0, "lfo_pitch_semitones": 0.0,
         "lfo_cutoff_octaves": 0.0, "volume_db": -6.0}


@pytest.fixture(scope="module")
def definition() -> SynthDefinition:
    return load_definition(BUILTIN_TOML)


@pytest.fixture(scope="module")
def synth(definition: SynthDefinition) -> BuiltinSynth:
    return BuiltinSynth(definition)


def patch(definition: SynthDefinition, **values: float) -> npt.NDArray[np.float64]:
    """One normalised parameter row from values in units; the rest take their defaults."""
    return normalise_all(definition, values)


def spectrum_db(
    audio: npt.NDArray[np.floating], sample_rate: int
) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]:
    """Frequencies and Blackman-Harris magnitude spectrum in dB of the steady part (0.2 s to 0.55 s)."""
    segment = np.asarray(audio[int(0.2 * sample_rate) : int(0.55 * sample_rate)], dtype=np.float64)
    n = np.arange(len(segment)) / len(segment)
    window = 0.35875 - 0.48829 * np.cos(2 * np.pi * n) + 0.14128 * np.cos(4 * np.pi * n) - 0.01168 * np.cos(
        6 * np.pi * n)
    size = 4 * len(segment)
    magnitude = np.abs(np.fft.rfft(segment * window, n=size))
    return np.fft.rfftfreq(size, 1 / sample_rate), 20 * np.log10(magnitude + 1e-12)


def test_is_a_synth_and_renders_float32_rows_of_the_definitions_length(
    synth: BuiltinSynth, definition: SynthDefinition
) -> None:
    audio = synth.render(np.full((3, len(definition.parameters)), 0.5))
    assert isinstance(synth, Synth)
    assert audio.shape == (3, definition.note.render_samples) == (3, 16000)
    assert audio.dtype == np.float32
    assert synth.sample_rate == 16000 and synth.parameters == definition.parameters


def test_a_sample_rate_override_keeps_the_length_in_seconds(definition: SynthDefinition) -> None:
    live = BuiltinSynth(definition, sample_rate=48000)
    assert live.sample_rate == 48000
    assert live.render(patch(definition)).shape == (1, 48000)


def test_the_same_params_give_the_same_audio_every_time(synth: BuiltinSynth, definition: SynthDefinition) -> None:
    params = np.random.default_rng(0).random((4, len(definition.parameters)))
    first = synth.render(params)
    assert np.array_equal(first, synth.render(params))
    assert np.array_equal(first, BuiltinSynth(definition).render(params))


def test_each_row_sounds_the_same_alone_or_in_a_batch(synth: BuiltinSynth, definition: SynthDefinition) -> None:
    params = np.random.default_rng(1).random((11, len(definition.parameters)))
    batch = synth.render(params)
    for i in (0, 5, 10):  # bit for bit: the synth uses no BLAS, so no kernel rounds a row by the batch's size
        np.testing.assert_array_equal(batch[i], synth.render(params[i : i + 1])[0])


def test_a_batch_of_mixed_notes_sounds_like_each_row_alone(synth: BuiltinSynth, definition: SynthDefinition) -> None:
    rng = np.random.default_rng(3)
    params = rng.random((11, len(definition.parameters)))
    notes, velocities = rng.integers(24, 100, 11), rng.integers(1, 128, 11)
    batch = synth.render(params, note=notes, velocity=velocities)
    for i in range(11):
        alone = synth.render(params[i : i + 1], note=int(notes[i]), velocity=int(velocities[i]))[0]
        np.testing.assert_array_equal(batch[i], alone)
    np.testing.assert_array_equal(synth.render(params, note=list(notes), velocity=100),
                                  synth.render(params, note=notes, velocity=np.full(11, 100)))


@pytest.mark.parametrize(("note", "message"), [
    (np.array([60, 61]), r"note has shape \(2,\), expected .*shape \(3,\), one per row"),
    (np.array([60, 128, 61]), r"note 128 \(row 1\) is outside the MIDI range 0\.\.127"),
    (np.array([60.0, 61.0, 62.0]), r"note .* must be an integer in 0\.\.127 or an integer array of shape \(3,\)"),
    (np.zeros((3, 1), np.int64), "must be an integer in 0..127 or an integer array"),
])
def test_a_bad_array_of_notes_is_refused_with_the_shape_and_range(
    synth: BuiltinSynth, definition: SynthDefinition, note: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        synth.render(np.full((3, len(definition.parameters)), 0.5), note=note)
    with pytest.raises(ValueError, match=r"velocity 0 \(row 2\) is outside the MIDI range 1\.\.127"):
        synth.render(np.full((3, len(definition.parameters)), 0.5), velocity=np.array([1, 127, 0]))


@pytest.mark.parametrize("name", [p.name for p in load_definition(BUILTIN_TOML).parameters])
def test_every_parameter_audibly_changes_the_sound(
    synth: BuiltinSynth, definition: SynthDefinition, name: str
) -> None:
    rows = np.stack([patch(definition, **BUSY)] * 2)
    column = definition.parameter_names.index(name)
    rows[:, column] = [0.0, 1.0]
    low, high = log_mel(synth.render(rows, note=72), FeatureSettings())
    assert np.mean(np.abs(high - low)) > 1.0, f"moving {name} from min to max changed the sound by < 1 dB"


def test_opening_the_cutoff_raises_the_spectral_centroid(synth: BuiltinSynth, definition: SynthDefinition) -> None:
    plain = {**PLAIN, "osc1_shape": 2.0}
    rows = np.stack([patch(definition, **plain)] * 8)
    rows[:, definition.parameter_names.index("cutoff_hz")] = np.linspace(0, 1, 8)
    audio = synth.render(rows)
    power = np.abs(np.fft.rfft(audio[:, 3200:8800], axis=1)) ** 2
    frequencies = np.fft.rfftfreq(5600, 1 / synth.sample_rate)
    centroid = (power * frequencies).sum(axis=1) / power.sum(axis=1)
    assert np.all(np.diff(centroid) > 0), f"centroids {np.round(centroid)} Hz do not rise with the cutoff"


@pytest.mark.parametrize("note", [36, 60, 84])
def test_the_pitch_is_the_midi_notes(synth: BuiltinSynth, definition: SynthDefinition, note: int) -> None:
    audio = synth.render(patch(definition, **PLAIN, osc1_shape=0.0), note=note)[0]
    frequencies, db = spectrum_db(audio, synth.sample_rate)
    peak = int(np.argmax(db))
    a, b, c = db[peak - 1 : peak + 2]
    measured_hz = frequencies[peak] + 0.5 * (a - c) / (a - 2 * b + c) * (frequencies[1] - frequencies[0])
    expected_hz = 440.0 * 2 ** ((note - 69) / 12)
    assert abs(1200 * np.log2(measured_hz / expected_hz)) < 3, f"note {note}: {measured_hz:.2f} Hz"


def test_osc2_detune_moves_its_pitch_by_semitones(synth: BuiltinSynth, definition: SynthDefinition) -> None:
    audio = synth.render(patch(definition, **{**PLAIN, "osc_mix": 1.0}, osc2_shape=0.0,
                               osc2_detune_semitones=7.0))[0]
    frequencies, db = spectrum_db(audio, synth.sample_rate)
    expected_hz = 261.63 * 2 ** (7 / 12)
    assert abs(frequencies[np.argmax(db)] - expected_hz) < 2


def test_after_note_off_the_sound_decays_with_the_release_time(
    synth: BuiltinSynth, definition: SynthDefinition
) -> None:
    rows = np.stack([patch(definition, amp_release_s=0.05), patch(definition, amp_release_s=0.3)])
    audio = synth.render(rows)
    rate, off = synth.sample_rate, int(definition.note.note_seconds * synth.sample_rate)
    held = np.sqrt(np.mean(audio[:, off - rate // 10 : off] ** 2, axis=1))
    windows = audio[:, off : off + 8 * rate // 20].reshape(2, 8, -1)
    after = np.sqrt(np.mean(windows**2, axis=2))
    assert np.all(np.diff(after, axis=1) < 0), "the level after note-off does not keep falling"
    assert after[0, 2] < 1e-3 * held[0], "a 50 ms release is not silent 100 ms after note-off"
    assert after[1, 2] > 0.05 * held[1], "a 300 ms release is already silent 100 ms after note-off"


@pytest.mark.parametrize(("cutoff_hz", "resonance", "tolerance_db"), [(150, 0.0, -50), (1000, 0.5, -40),
                                                                    (3000, 1.0, -30)])
def test_a_still_filter_sounds_like_the_analog_filter_on_the_whole_note(
    cutoff_hz: float, resonance: float, tolerance_db: float
) -> None:
    rate, frame_length = 16000, 512
    noise = np.random.default_rng(3).uniform(-1, 1, (1, rate)).astype(np.float32)
    spectra = frame_spectra(noise, frame_length)
    spectra *= LadderFilter(frame_length, rate).response(np.full((1, spectra.shape[1]), cutoff_hz), [resonance])
    framed = overlap_add(spectra, rate)[0, 2000:14000]
    size = 8 * rate
    exact_response = ladder_response_at(np.fft.rfftfreq(size, 1 / rate) / cutoff_hz, [round(resonance * 127) / 127])
    exact = np.fft.irfft(np.fft.rfft(noise[0], size) * exact_response[0], size)[2000:14000]
    assert 20 * np.log10(np.std(framed - exact) / np.std(exact)) < tolerance_db


def test_envelopes_attack_decay_to_sustain_and_release_by_60_db_in_their_times() -> None:
    times = np.array([0.0, 0.05, 0.1, 0.4, 0.6, 0.8])
    level = adsr(times, attack_s=[0.1], decay_s=[0.3], sustain=[0.5], release_s=[0.2], note_off_s=0.6)[0]
    np.testing.assert_allclose(level, [0.0, 0.5, 1.0, 0.5005, 0.5, 0.0005], rtol=1e-3, atol=1e-6)


def test_louder_velocity_and_volume_give_a_louder_note(synth: BuiltinSynth, definition: SynthDefinition) -> None:
    quiet, loud = synth.render(patch(definition), velocity=40), synth.render(patch(definition), velocity=120)
    assert np.sqrt(np.mean(loud**2)) > 4 * np.sqrt(np.mean(quiet**2))
    rows = np.stack([patch(definition, volume_db=-30.0), patch(definition, volume_db=-10.0)])
    soft, strong = np.sqrt(np.mean(synth.render(rows) ** 2, axis=1))
    assert 8 < strong / soft < 12


@pytest.mark.parametrize("sample_rate", [16000, 48000])
@pytest.mark.parametrize(("shape", "note"), [(2.0, 96), (3.0, 96), (2.0, 84), (1.5, 72)])
def test_oscillators_do_not_alias(definition: SynthDefinition, sample_rate: int, shape: float, note: int) -> None:
    synth = BuiltinSynth(definition, sample_rate=sample_rate)
    audio = synth.render(patch(definition, **PLAIN, osc1_shape=shape), note=note)[0]
    frequencies, db = spectrum_db(audio, sample_rate)
    fundamental_hz = 440.0 * 2 ** ((note - 69) / 12)
    harmonic = frequencies / fundamental_hz
    near_harmonic = np.abs(harmonic - np.round(harmonic)) * fundamental_hz < 30
    fundamental_db = db[np.abs(frequencies - fundamental_hz) < 30].max()
    worst_db = db[~near_harmonic].max() - fundamental_db
    assert worst_db < -50, f"a non-harmonic component at {worst_db:.1f} dB re the fundamental"


def test_no_patch_makes_nan_or_leaves_minus_one_to_one(synth: BuiltinSynth, definition: SynthDefinition) -> None:
    count = len(definition.parameters)
    rng = np.random.default_rng(2)
    params = np.concatenate([rng.random((32, count)), rng.integers(0, 2, (16, count)), np.zeros((1, count)),
                             np.ones((1, count))])
    for note in (36, 84):
        audio = synth.render(params, note=note, velocity=127)
        assert np.all(np.isfinite(audio))
        assert np.abs(audio).max() <= 1.0
    assert np.abs(audio).max() > 0.5, "even the loudest patches are quiet"


def test_a_wrongly_shaped_params_array_names_the_expected_shape(synth: BuiltinSynth) -> None:
    with pytest.raises(ValueError, match=r"shape \[batch, 20\]"):
        synth.render(np.zeros((2, 19)))


@pytest.mark.parametrize(("note", "velocity", "message"), [(128, 100, "note 128"), (60, 0, "velocity 0")])
def test_a_note_or_velocity_outside_midi_is_refused(
    synth: BuiltinSynth, definition: SynthDefinition, note: int, velocity: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        synth.render(patch(definition), note=note, velocity=velocity)


def test_a_definition_the_synth_cannot_play_is_refused_with_the_fix(definition: SynthDefinition) -> None:
    tables = [{"name": p.name, "min": p.min, "max": p.max, "curve": p.curve} for p in definition.parameters]
    missing = parse_definition({"name": "x", "kind": "builtin", "parameters": tables[1:]})
    with pytest.raises(ValueError, match="missing: osc1_shape.*builtin.toml"):
        BuiltinSynth(missing)
    too_wide = parse_definition({"name": "x", "kind": "builtin",
                                 "parameters": [{**tables[0], "max": 5}] + tables[1:]})
    with pytest.raises(ValueError, match="osc1_shape has range 0..5.*accepts only 0..3"):
        BuiltinSynth(too_wide)
    with pytest.raises(ValueError, match="sample_rate 100"):
        BuiltinSynth(definition, sample_rate=100)
