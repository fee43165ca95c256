"""Pitch of a target: the right note from sines, saws, squares and filtered notes over five octaves, None for noise."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
import scipy.signal

from synthmatch.definitions import NoteSettings
from synthmatch.pitch import choose_note, estimate_f0_hz, nearest_midi_note

RATE_HZ = 16000
NOTES = range(36, 97)  # C2 .. C7
Gains = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]  # harmonic numbers -> amplitudes


def midi_hz(note: float) -> float:
    """Equal-tempered frequency of a MIDI note in Hz."""
    return 440.0 * 2.0 ** ((note - 69) / 12)


def resonant_lowpass(harmonic: npt.NDArray[np.float64], cutoff_harmonic: float, q: float) -> npt.NDArray[np.float64]:
    """Magnitude of a 2-pole resonant low-pass at each harmonic number, cutoff given as a harmonic number."""
    ratio = harmonic / cutoff_harmonic
    return 1.0 / np.sqrt((1.0 - ratio**2) ** 2 + (ratio / q) ** 2)


WAVEFORMS: dict[str, Gains] = {
    "sine": lambda k: (k == 1).astype(float),
    "saw": lambda k: 1.0 / k,
    "square": lambda k: (k % 2) / k,
    # the filter's peak makes the 2nd harmonic 11 dB louder than the fundamental
    "saw, resonant low-pass on the 2nd harmonic": lambda k: resonant_lowpass(k, 2.0, 10.0) / k,
    "saw, fundamental 26 dB weaker": lambda k: np.where(k == 1, 0.05, 1.0 / k),
    "saw, no fundamental": lambda k: np.where(k == 1, 0.0, 1.0 / k),
}


def note_audio(
    gains: Gains, f0_hz: float, sample_rate: int = RATE_HZ, vibrato_cents: float = 0.0
) -> npt.NDArray[np.float32]:
    """One second of a band-limited note: float32[sample_rate], 10 ms attack, released at 0.6 s.

    One period is built from the harmonics' amplitudes ``gains(k)`` and read with a phase accumulator, so a
    5.5 Hz vibrato of ``vibrato_cents`` can bend it.
    """
    t = np.arange(sample_rate) / sample_rate
    inst_hz = f0_hz * 2.0 ** (vibrato_cents / 1200 * np.sin(2 * np.pi * 5.5 * t))
    harmonic = np.arange(1, int(sample_rate / 2 / inst_hz.max()) + 1, dtype=np.float64)
    spectrum = np.zeros(2049, dtype=complex)
    spectrum[1 : harmonic.size + 1] = -1j * gains(harmonic)
    period = np.fft.irfft(spectrum, 4096)
    phase = np.cumsum(inst_hz / sample_rate) % 1.0 * 4096
    wave = np.interp(phase, np.arange(4097), np.append(period, period[0]))
    envelope = np.minimum(1.0, t / 0.01) * np.where(t < 0.6, 1.0, np.exp(-(t - 0.6) / 0.1))
    return (0.5 * wave / np.abs(wave).max() * envelope).astype(np.float32)


def wrong_notes(estimates: dict[int, float | None]) -> list[tuple[int, int | None]]:
    """(played, estimated) for each note whose estimate is not the note played."""
    return [
        (note, None if hz is None else nearest_midi_note(hz))
        for note, hz in estimates.items()
        if hz is None or nearest_midi_note(hz) != note
    ]


@pytest.mark.parametrize("waveform", list(WAVEFORMS))
def test_every_note_from_c2_to_c7_is_found(waveform: str) -> None:
    estimates = {n: estimate_f0_hz(note_audio(WAVEFORMS[waveform], midi_hz(n)), RATE_HZ) for n in NOTES}
    assert wrong_notes(estimates) == []


def test_a_sine_is_found_within_two_cents() -> None:
    for note in np.arange(36.0, 96.0, 1.37):
        estimate = estimate_f0_hz(note_audio(WAVEFORMS["sine"], midi_hz(note)), RATE_HZ)
        assert estimate is not None and abs(1200 * np.log2(estimate / midi_hz(note))) < 2.0


def test_vibrato_gives_the_centre_note() -> None:
    estimates = {
        n: estimate_f0_hz(note_audio(WAVEFORMS["saw"], midi_hz(n), vibrato_cents=40.0), RATE_HZ) for n in NOTES
    }
    assert wrong_notes(estimates) == []


@pytest.mark.parametrize("sample_rate", [44100, 48000])
def test_notes_are_found_at_live_sample_rates(sample_rate: int) -> None:
    notes = range(36, 97, 5)
    estimates = {n: estimate_f0_hz(note_audio(WAVEFORMS["saw"], midi_hz(n), sample_rate), sample_rate) for n in notes}
    assert wrong_notes(estimates) == []


def _lowpassed_noise(cutoff_hz: float) -> npt.NDArray[np.float32]:
    b, a = scipy.signal.butter(2, cutoff_hz, fs=RATE_HZ)
    noise = np.random.default_rng(1).standard_normal(RATE_HZ)
    return scipy.signal.lfilter(b, a, noise).astype(np.float32)


def _click() -> npt.NDArray[np.float32]:
    audio = np.zeros(RATE_HZ, np.float32)
    audio[200:210] = np.hanning(10)
    return audio


NO_PITCH = {
    "white noise": lambda: 0.3 * np.random.default_rng(0).standard_normal(RATE_HZ).astype(np.float32),
    "noise low-passed at 300 Hz": lambda: _lowpassed_noise(300.0),
    "noise low-passed at 3 kHz": lambda: _lowpassed_noise(3000.0),
    "a click": _click,
    "silence": lambda: np.zeros(RATE_HZ, np.float32),
    "too short to hold two periods of 30 Hz": lambda: note_audio(WAVEFORMS["saw"], 440.0)[:1000],
}


@pytest.mark.parametrize("sound", list(NO_PITCH))
def test_noise_clicks_silence_and_too_short_audio_have_no_pitch(sound: str) -> None:
    assert estimate_f0_hz(NO_PITCH[sound](), RATE_HZ) is None


def test_stereo_audio_is_refused_with_its_shape() -> None:
    with pytest.raises(ValueError, match=r"mono audio of shape \[samples\], got shape \(2, 16000\)"):
        estimate_f0_hz(np.zeros((2, RATE_HZ), np.float32), RATE_HZ)


@pytest.mark.parametrize(("f0_hz", "note"), [(440.0, 69), (261.63, 60), (452.0, 69), (454.0, 70), (8.0, 0)])
def test_nearest_midi_note(f0_hz: float, note: int) -> None:
    assert nearest_midi_note(f0_hz) == note


@pytest.mark.parametrize("f0_hz", [0.0, -440.0, float("nan"), float("inf")])
def test_nearest_midi_note_refuses_a_non_frequency(f0_hz: float) -> None:
    with pytest.raises(ValueError, match="positive number of Hz"):
        nearest_midi_note(f0_hz)


SETTINGS = NoteSettings(midi_note=60, lowest_note=36, highest_note=84)


@pytest.mark.parametrize(
    ("f0_hz", "requested", "note"),
    [
        (midi_hz(50), None, 50),  # pitched: its own note
        (midi_hz(100), None, 84),  # above the range: the highest note
        (midi_hz(20), None, 36),  # below the range: the lowest note
        (None, None, 60),  # unpitched: the definition's note
        (midi_hz(50), 84, 84),  # a requested note wins
        (None, 36, 36),
    ],
)
def test_choose_note(f0_hz: float | None, requested: int | None, note: int) -> None:
    assert choose_note(SETTINGS, f0_hz, requested) == note


@pytest.mark.parametrize("requested", [10, 35, 85, 128, -1])
def test_choose_note_refuses_a_note_outside_the_playable_range(requested: int) -> None:
    with pytest.raises(ValueError, match=f"note {requested} is outside the synth's playable range 36..84"):
        choose_note(SETTINGS, None, requested)


def test_builtin_synth_notes_with_random_patches_are_found() -> None:
    """Random patches whose pitch is unambiguous: oscillators in unison, little noise, vibrato under 0.5 semitone.

    Quiet renders (peak under 0.03, e.g. the cutoff far below the note) are left out; of the rest, a few with a
    strongly resonant filter sweeping through noise are heard at the resonance, so 90% must be right.
    """
    pytest.importorskip("synthmatch.synths.builtin", reason="the built-in synth is not written yet")
    from synthmatch.params import normalise
    from synthmatch.synths import open_synth

    synth = open_synth("builtin")
    definition = synth.definition
    rng = np.random.default_rng(0)
    patches = rng.random((len(NOTES), len(definition.parameters)))
    for name, low, high in [
        ("osc2_detune_semitones", -0.1, 0.1),
        ("noise_level", 0.0, 0.2),
        ("lfo_pitch_semitones", 0.0, 0.5),
    ]:
        column = definition.parameter_names.index(name)
        patches[:, column] = normalise(definition.parameter(name), rng.uniform(low, high, len(NOTES)))
    renders = {n: synth.render(patch, note=n)[0] for n, patch in zip(NOTES, patches, strict=True)}
    loud = {n: audio for n, audio in renders.items() if np.abs(audio).max() > 0.03}
    wrong = wrong_notes({n: estimate_f0_hz(audio, synth.sample_rate) for n, audio in loud.items()})
    assert len(loud) >= 25
    assert len(wrong) <= 0.1 * len(loud), wrong
