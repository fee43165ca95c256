"""The log-mel front end: shapes, where a sine's energy lands, the floor, batch independence, settings."""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import pytest

from synthmatch.features import (
    FeatureSettings,
    hz_to_mel,
    log_mel,
    mel_to_hz,
    mfcc,
    stft_magnitude,
    stft_power,
)

SETTINGS = FeatureSettings()


def sine(frequency_hz: float, samples: int = 8000, amplitude: float = 1.0) -> npt.NDArray[np.float32]:
    """A steady sine at SETTINGS.sample_rate: [1, samples]."""
    time_s = np.arange(samples) / SETTINGS.sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency_hz * time_s))[None].astype(np.float32)


@pytest.mark.parametrize("samples", [1, 255, 256, 16000, 16001])
def test_log_mel_has_one_frame_per_hop_plus_one(samples: int) -> None:
    features = log_mel(np.zeros((3, samples), np.float32), SETTINGS)
    expected_frames = 1 + samples // SETTINGS.hop_length
    assert features.shape == (3, SETTINGS.n_mels, expected_frames)
    assert SETTINGS.frames(samples) == expected_frames
    assert features.dtype == np.float32


def test_mel_scale_is_htk() -> None:
    assert hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.1)  # the HTK scale's anchor point
    assert mel_to_hz(hz_to_mel([100.0, 4000.0])) == pytest.approx([100.0, 4000.0])


@pytest.mark.parametrize("frequency_hz", [200.0, 1000.0, 3000.0])
def test_a_sines_energy_lands_in_the_mel_band_around_its_frequency(frequency_hz: float) -> None:
    band_db = log_mel(sine(frequency_hz, amplitude=0.5), SETTINGS)[0].mean(axis=1)  # [n_mels]
    loudest = int(band_db.argmax())
    edges_hz = mel_to_hz(
        np.linspace(hz_to_mel(SETTINGS.fmin_hz), hz_to_mel(SETTINGS.sample_rate / 2), SETTINGS.n_mels + 2)
    )
    assert edges_hz[loudest] < frequency_hz < edges_hz[loudest + 2]  # inside the loudest band's triangle
    far = np.abs(np.arange(SETTINGS.n_mels) - loudest) > 3
    assert band_db[far].max() < band_db[loudest] - 40.0


@pytest.mark.parametrize("floor_db", [-80.0, -60.0])
def test_silence_is_floor_db_everywhere(floor_db: float) -> None:
    settings = FeatureSettings(floor_db=floor_db)
    features = log_mel(np.zeros((2, 4000), np.float32), settings)
    assert np.all(features == np.float32(floor_db))


def test_batch_rows_are_independent() -> None:
    rng = np.random.default_rng(0)
    batch = np.concatenate([sine(440.0, 4000), 0.1 * rng.standard_normal((1, 4000))]).astype(np.float32)
    together = log_mel(batch, SETTINGS)
    for row in range(len(batch)):
        assert together[row] == pytest.approx(log_mel(batch[row : row + 1], SETTINGS)[0], abs=1e-3)


def test_settings_round_trip_through_a_dict() -> None:
    settings = FeatureSettings(sample_rate=22050, n_fft=2048, hop_length=512, n_mels=80, fmax_hz=8000.0)
    assert FeatureSettings.from_dict(settings.to_dict()) == settings
    assert set(settings.to_dict()) == {f.name for f in dataclasses.fields(FeatureSettings)}


def test_unknown_settings_are_refused_by_name() -> None:
    data = {**SETTINGS.to_dict(), "n_mfcc": 20}
    with pytest.raises(ValueError, match="n_mfcc"):
        FeatureSettings.from_dict(data)


def test_full_scale_sine_peaks_at_one() -> None:
    bin_hz = SETTINGS.sample_rate / SETTINGS.n_fft
    on_bin = stft_power(sine(64 * bin_hz), SETTINGS.n_fft, SETTINGS.hop_length)
    between_bins = stft_power(sine(64.5 * bin_hz), SETTINGS.n_fft, SETTINGS.hop_length)
    inner = slice(4, -4)  # frames away from the zero-padded ends
    assert on_bin[0, inner].max(axis=-1) == pytest.approx(1.0, abs=0.01)
    assert np.all(on_bin[0, inner].argmax(axis=-1) == 64)
    peaks = between_bins[0, inner].max(axis=-1)  # Hann scalloping loss is 1.42 dB at half a bin
    assert np.all((peaks > 0.70) & (peaks < 0.74))


def test_power_is_the_square_of_the_magnitude() -> None:
    audio = sine(1000.0, 4000, amplitude=0.3)
    magnitude = stft_magnitude(audio, 512, 128)
    assert stft_power(audio, 512, 128) == pytest.approx(magnitude**2, rel=1e-5, abs=1e-12)


def test_a_level_change_moves_only_the_first_mfcc() -> None:
    rng = np.random.default_rng(1)
    loud = (0.5 * rng.standard_normal((1, 8000))).astype(np.float32)  # every mel band far above the floor
    change = mfcc(loud / 2, SETTINGS) - mfcc(loud, SETTINGS)  # [1, 20, frames]
    assert change.shape == (1, 20, SETTINGS.frames(8000))
    assert change[0, 0] == pytest.approx(-20 * np.log10(2) * np.sqrt(SETTINGS.n_mels), abs=1e-2)
    assert np.abs(change[0, 1:]).max() < 1e-2


def test_more_mfccs_than_mel_bands_are_refused() -> None:
    with pytest.raises(ValueError, match=r"n_mfcc must be in 1..n_mels \(64\), got 65"):
        mfcc(np.zeros((1, 100), np.float32), SETTINGS, n_mfcc=65)
