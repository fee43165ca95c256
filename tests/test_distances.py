"""Distances between sounds: zero for the same sound, symmetric, growing as a sound moves away, exact values."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from synthmatch.distances import (
    DISTANCES,
    PRIMARY,
    audio_distance,
    log_spectra,
    log_spectra_distance,
    multires_stft_distance,
    param_mae,
)

SAMPLE_RATE = 16000
SECONDS = 0.5
TIME_S = np.arange(int(SAMPLE_RATE * SECONDS)) / SAMPLE_RATE
ENVELOPE = np.minimum(1.0, TIME_S / 0.01) * np.exp(-3.0 * TIME_S)  # 10 ms attack, exponential decay
NAMES = sorted(DISTANCES)


def filtered_saw(f0_hz: float, cutoff_hz: float) -> npt.NDArray[np.float32]:
    """A decaying saw through a 2-pole Butterworth-shaped low-pass, built from its harmonics: [samples]."""
    harmonics = np.arange(1, int(SAMPLE_RATE / 2 / f0_hz))
    gains = 1.0 / harmonics / np.sqrt(1.0 + (harmonics * f0_hz / cutoff_hz) ** 4)
    saw = gains @ np.sin(2 * np.pi * f0_hz * harmonics[:, None] * TIME_S[None])
    return (0.5 * saw * ENVELOPE).astype(np.float32)


def sine(frequency_hz: float) -> npt.NDArray[np.float32]:
    """A decaying sine at half full scale: [samples]."""
    return (0.5 * np.sin(2 * np.pi * frequency_hz * TIME_S) * ENVELOPE).astype(np.float32)


def noise(batch: int, std: float, seed: int = 0) -> npt.NDArray[np.float32]:
    """White Gaussian noise: [batch, samples]."""
    return (std * np.random.default_rng(seed).standard_normal((batch, TIME_S.size))).astype(np.float32)


def sounds() -> npt.NDArray[np.float32]:
    """A small varied batch: saws, a sine, noise, silence: [5, samples]."""
    return np.stack(
        [filtered_saw(110, 800), filtered_saw(220, 3000), sine(440), noise(1, 0.1)[0], np.zeros_like(TIME_S)]
    ).astype(np.float32)


@pytest.mark.parametrize("name", NAMES)
def test_identical_audio_is_at_distance_zero(name: str) -> None:
    batch = sounds()
    assert DISTANCES[name](batch, batch.copy(), SAMPLE_RATE) == pytest.approx(np.zeros(len(batch)), abs=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_distance_is_symmetric_non_negative_and_finite(name: str) -> None:
    a, b = sounds(), sounds()[::-1]
    forward = DISTANCES[name](a, b, SAMPLE_RATE)
    assert forward.dtype == np.float64 and forward.shape == (len(a),)
    assert np.all(np.isfinite(forward)) and np.all(forward >= 0.0)
    assert forward == pytest.approx(DISTANCES[name](b, a, SAMPLE_RATE), rel=1e-6, abs=1e-9)
    assert forward[0] > 0.0  # a 110 Hz saw is not silence


@pytest.mark.parametrize("name", NAMES)
def test_distance_grows_as_the_cutoff_moves_away(name: str) -> None:
    target = filtered_saw(110, 1000)[None]
    moved = np.stack([filtered_saw(110, 1000 * 2 ** (k / 2)) for k in range(6)])  # 0 to 2.5 octaves up
    distances = DISTANCES[name](target, moved, SAMPLE_RATE)
    assert distances[0] == pytest.approx(0.0, abs=1e-5)  # not bit-exact: batches of 1 and 6 take other BLAS paths
    assert np.all(np.diff(distances) > 0), distances


@pytest.mark.parametrize("name", NAMES)
def test_distance_grows_as_the_pitch_moves_away(name: str) -> None:
    cents = [0, 10, 25, 50, 100, 200, 400]
    moved = np.stack([sine(440 * 2 ** (c / 1200)) for c in cents])
    distances = DISTANCES[name](sine(440)[None], moved, SAMPLE_RATE)
    assert np.all(np.diff(distances) > 0), dict(zip(cents, distances, strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_silence_and_noise_below_the_floor_are_the_same_sound(name: str) -> None:
    silence = np.zeros((1, TIME_S.size), np.float32)
    whisper = noise(1, 1e-6)  # about -120 dB per bin, far below the -80 dB floor
    assert DISTANCES[name](silence, silence, SAMPLE_RATE) == pytest.approx([0.0], abs=1e-12)
    assert DISTANCES[name](silence, whisper, SAMPLE_RATE) == pytest.approx([0.0], abs=1e-12)
    loud = DISTANCES[name](silence, filtered_saw(110, 1000)[None], SAMPLE_RATE)
    assert np.isfinite(loud[0]) and loud[0] > 0.0


@pytest.mark.parametrize("name", NAMES)
def test_one_target_is_broadcast_against_a_batch_row_by_row(name: str) -> None:
    batch, target = sounds(), filtered_saw(165, 2000)[None]
    together = DISTANCES[name](batch, target, SAMPLE_RATE)
    one_by_one = [DISTANCES[name](row[None], target, SAMPLE_RATE)[0] for row in batch]
    assert together == pytest.approx(one_by_one, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_level_is_invisible_to_every_distance(name: str) -> None:
    """Level is the fader's business: the same sound 6, 24 and 40 dB down is at distance ~0 from itself."""
    loud = np.repeat(filtered_saw(110, 1000)[None], 3, axis=0)
    quieter = loud * np.array([[0.5], [1 / 16], [0.01]], dtype=np.float32)
    assert DISTANCES[name](loud, quieter, SAMPLE_RATE) == pytest.approx([0.0] * 3, abs=1e-4), name
    different = filtered_saw(110, 3000)[None]
    assert DISTANCES[name](loud[:1], different, SAMPLE_RATE)[0] > 1e-2  # while the timbre still counts


def test_cached_target_spectra_give_the_direct_distance() -> None:
    batch, target = sounds(), filtered_saw(110, 1000)[None]
    target_spectra = log_spectra(target)
    assert [s.shape[0] for s in target_spectra] == [1, 1, 1, 1]
    cached = log_spectra_distance(target_spectra, log_spectra(batch))
    assert cached == pytest.approx(multires_stft_distance(batch, target), rel=1e-9)


def test_mismatched_shapes_are_refused_with_the_shapes_named() -> None:
    with pytest.raises(ValueError, match=r"batch sizes 2 and 3"):
        multires_stft_distance(noise(2, 0.1), noise(3, 0.1))
    with pytest.raises(ValueError, match=r"same sample rate and length"):
        multires_stft_distance(noise(1, 0.1), noise(1, 0.1)[:, :-1])
    with pytest.raises(ValueError, match=r"NaN"):
        multires_stft_distance(np.full((1, 100), np.nan), np.zeros((1, 100)))
    with pytest.raises(ValueError, match=r"make both with log_spectra"):
        log_spectra_distance(log_spectra(noise(1, 0.1))[:2], log_spectra(noise(1, 0.1))[:2])


def test_param_mae_is_the_mean_absolute_difference_per_row() -> None:
    patches = np.array([[0.0, 0.5, 1.0], [0.2, 0.2, 0.2]])
    target = np.array([[0.0, 0.0, 0.0]])
    assert param_mae(patches, target) == pytest.approx([0.5, 0.2])
    assert param_mae(patches, patches) == pytest.approx([0.0, 0.0])
    with pytest.raises(ValueError, match=r"different shapes"):
        param_mae(patches, np.zeros((1, 4)))


def test_distances_are_found_by_their_stable_names() -> None:
    assert set(DISTANCES) == {"mrstft", "lsd_db", "mfcc_l1", "spectral_convergence"}
    assert audio_distance(PRIMARY) is DISTANCES["mrstft"]
    with pytest.raises(KeyError, match=r"did you mean mrstft\?"):
        audio_distance("mrstf")


def test_builtin_synth_moves_away_as_its_cutoff_moves_away() -> None:
    """Over several random patches, mrstft grows on average as cutoff_hz moves further from the target's."""
    pytest.importorskip("synthmatch.synths.builtin", reason="the built-in synth is not written yet")
    from synthmatch.synths import open_synth

    synth = open_synth("builtin")
    names = synth.definition.parameter_names
    rng = np.random.default_rng(1)
    targets = rng.uniform(0.2, 0.8, (8, len(names)))
    targets[:, names.index("cutoff_hz")] = rng.uniform(0.2, 0.6, 8)
    targets[:, names.index("volume_db")] = 0.8  # audible, so the cutoff is heard
    target_spectra = log_spectra(synth.render(targets))
    mean_distances = []
    for offset in (0.0, 0.05, 0.1, 0.2, 0.3):  # normalised cutoff moved up by this much
        moved = targets.copy()
        moved[:, names.index("cutoff_hz")] += offset
        mean_distances.append(log_spectra_distance(target_spectra, log_spectra(synth.render(moved))).mean())
    assert mean_distances[0] == pytest.approx(0.0, abs=1e-9)
    assert np.all(np.diff(mean_distances) > 0), mean_distances
