"""Audio in: resampling, onset finding and alignment, device errors."""

from __future__ import annotations

import numpy as np
import pytest

from synthmatch.daemon.audio_in import AudioDeviceError, align_to_onset, find_device, onset_index, resample


def _tone(hz: float, seconds: float, rate: int) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def test_resample_keeps_length_in_seconds_and_pitch() -> None:
    tone = _tone(1000.0, 0.5, 48000)
    out = resample(tone, 48000, 16000)
    assert out.dtype == np.float32 and len(out) == 8000
    spectrum = np.abs(np.fft.rfft(out))
    assert np.fft.rfftfreq(len(out), 1 / 16000)[spectrum.argmax()] == pytest.approx(1000, abs=2)
    assert np.sqrt(np.mean(out[1000:-1000] ** 2)) == pytest.approx(0.3536, rel=0.01)
    assert len(resample(out, 16000, 44100)) == 22050


def test_onset_is_found_within_a_millisecond_and_silence_has_none() -> None:
    rate = 48000
    audio = np.concatenate([np.zeros(4800, np.float32) + 1e-6, _tone(220.0, 0.3, rate)])
    start = onset_index(audio, rate)
    assert start is not None and abs(start - 4800) <= rate // 1000
    assert onset_index(np.zeros(rate, np.float32), rate) is None


def test_align_to_onset_trims_the_lead_in_and_pads_the_end() -> None:
    rate = 16000
    tone = _tone(440.0, 0.25, rate)
    audio = np.concatenate([np.zeros(800, np.float32), tone])
    aligned = align_to_onset(audio, rate, samples=8000)
    assert aligned.shape == (8000,)
    assert np.array_equal(aligned[:4000], tone)
    assert np.all(aligned[4000:] == 0)
    ramp = np.linspace(0, 1e-6, 100, dtype=np.float32)  # below the floor: silent, so it starts at the fallback
    assert np.array_equal(align_to_onset(ramp, rate, samples=50, fallback=10), ramp[10:60])


def test_a_missing_input_device_lists_the_inputs() -> None:
    with pytest.raises(AudioDeviceError, match="audio input matches 'no-such-card'; the inputs are"):
        find_device("no-such-card", 1)
