"""Distances between sounds (and between patches), batched, under the stable names the evaluation reports.

Every audio distance takes ``a[B, N]`` and ``b[B, N]`` (float, one sample rate; either batch may be 1 and is
then broadcast) and returns ``float64[B]``: 0 for identical audio, symmetric, non-negative, finite for
silence. Every one compares the two sounds at equal loudness (:func:`synthmatch.loudness.equal_loudness`):
level is the fader's business, not the timbre's. The exact definitions, constants and typical values are in
docs/metrics.md. The primary one, ``mrstft``, also has a cached form for a fixed target: :func:`log_spectra`
once for the target, then :func:`log_spectra_distance` every step. Every spectrogram comes from
:mod:`synthmatch.features`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from synthmatch.features import FeatureSettings, mfcc, stft_magnitude, stft_power
from synthmatch.loudness import equal_loudness
from synthmatch.name_hints import did_you_mean

Audio = npt.NDArray[np.floating]
Distances = npt.NDArray[np.float64]
LogSpectra = tuple[npt.NDArray[np.float32], ...]
AudioDistance = Callable[[Audio, Audio, int], Distances]
"""An audio distance as the registry calls it: ``(a[B, N], b[B, N], sample_rate_hz) -> float64[B]``."""

FLOOR_DB = -80.0
"""Power floor in dB re a full-scale sine's peak bin: quieter bins count as this level, so silence is one value."""
MRSTFT_FFT_SIZES: tuple[int, ...] = (256, 512, 1024, 2048)
"""FFT sizes (Hann window lengths) of the multi-resolution distance; each hop is half the size (for speed)."""
SINGLE_FFT_SIZE = 1024
"""FFT size of the single-resolution distances (``lsd_db``, ``spectral_convergence``), as the log-mel front end."""
SINGLE_HOP = 256
"""Hop of the single-resolution distances in samples, as the log-mel front end."""
N_MFCC = 20
"""Number of MFCCs compared by ``mfcc_l1``, c0 included (the level's shape over time, not the overall level)."""

_FLOOR_POWER = 10.0 ** (FLOOR_DB / 10.0)
_FLOOR_MAGNITUDE = 10.0 ** (FLOOR_DB / 20.0)


def _check_audio(audio: Audio, name: str = "audio") -> npt.NDArray[np.float32]:
    """``audio`` as float32 ``[B, N]`` (a 1-D signal becomes ``[1, N]``); ValueError for other shapes or NaN."""
    array = np.asarray(audio, dtype=np.float32)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"{name} must be audio of shape [batch, samples] with samples > 0, got {np.shape(audio)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinity; check the synth's output before measuring it")
    return array


def _check_batches(shape_a: tuple[int, ...], shape_b: tuple[int, ...], what: str) -> None:
    """Both leading (batch) sizes equal, or one of them 1; the rest of the shapes equal."""
    if shape_a[1:] != shape_b[1:]:
        raise ValueError(
            f"{what} of different shapes {shape_a} and {shape_b}: render both sounds at the same sample rate "
            "and length before comparing them"
        )
    if shape_a[0] != shape_b[0] and 1 not in (shape_a[0], shape_b[0]):
        raise ValueError(
            f"{what} have batch sizes {shape_a[0]} and {shape_b[0]}; they must be equal or one of them 1 "
            "(a single target broadcast against a batch)"
        )


def _check_pair(a: Audio, b: Audio) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Both signals as float32 ``[B, N]`` at equal loudness, with broadcastable batches and equal lengths."""
    array_a, array_b = _check_audio(a, "a"), _check_audio(b, "b")
    _check_batches(array_a.shape, array_b.shape, "audio a and b")
    return equal_loudness(array_a), equal_loudness(array_b)


def _floored_log(spectrogram: npt.NDArray[np.float32], floor: float) -> npt.NDArray[np.float32]:
    """ln max(spectrogram, floor), computed in place on the (fresh) spectrogram."""
    np.maximum(spectrogram, floor, out=spectrogram)
    return np.log(spectrogram, out=spectrogram)


def log_spectra(audio: Audio, *, at_equal_loudness: bool = False) -> LogSpectra:
    """Floored log STFT magnitudes in nepers, one per MRSTFT_FFT_SIZES: audio[B, N] -> ([B, frames, bins], ...).

    Each is ``ln max(|X|, 10^(FLOOR_DB / 20))`` of the audio at equal loudness, with |X| scaled so a full-scale
    sine peaks at 1 (0 Np); ``at_equal_loudness`` True says the audio is there already (the match loop brings
    each sound there once). Compute a fixed target's once and compare many sounds to it with
    :func:`log_spectra_distance`.
    """
    array = _check_audio(audio) if at_equal_loudness else equal_loudness(_check_audio(audio))
    return tuple(
        _floored_log(stft_magnitude(array, n_fft, n_fft // 2), _FLOOR_MAGNITUDE) for n_fft in MRSTFT_FFT_SIZES
    )


def log_spectra_distance(spectra_a: LogSpectra, spectra_b: LogSpectra) -> Distances:
    """Multi-resolution log-STFT distance from :func:`log_spectra` outputs -> float64[B], in nepers.

    The mean absolute difference over frames and bins, averaged over resolutions. A batch of 1 (a target) is
    broadcast against a batch of B.
    """
    if not len(spectra_a) == len(spectra_b) == len(MRSTFT_FFT_SIZES):
        raise ValueError(
            f"expected {len(MRSTFT_FFT_SIZES)} resolutions on each side, got {len(spectra_a)} and "
            f"{len(spectra_b)}; make both with log_spectra"
        )
    means = []
    for log_a, log_b in zip(spectra_a, spectra_b, strict=True):
        _check_batches(log_a.shape, log_b.shape, "log spectra")
        difference = log_a - log_b
        means.append(np.abs(difference, out=difference).mean(axis=(1, 2)))
    return np.mean(means, axis=0, dtype=np.float64)


def multires_stft_distance(a: Audio, b: Audio) -> Distances:
    """THE primary distance ("mrstft"): mean |ln|A| - ln|B|| over 4 STFT resolutions -> float64[B], in nepers."""
    array_a, array_b = _check_pair(a, b)
    return log_spectra_distance(log_spectra(array_a), log_spectra(array_b))


def log_spectral_distance_db(a: Audio, b: Audio) -> Distances:
    """Log-spectral distance ("lsd_db"): per-frame RMS over bins of the floored dB power difference, mean over frames.

    One resolution (SINGLE_FFT_SIZE, SINGLE_HOP); returns float64[B] in dB.
    """
    array_a, array_b = _check_pair(a, b)
    log_a = _floored_log(stft_power(array_a, SINGLE_FFT_SIZE, SINGLE_HOP), _FLOOR_POWER)
    log_b = _floored_log(stft_power(array_b, SINGLE_FFT_SIZE, SINGLE_HOP), _FLOOR_POWER)
    difference_db = (log_a - log_b) * np.float32(10.0 / np.log(10.0))
    per_frame_db = np.sqrt(np.mean(np.square(difference_db), axis=2))
    return per_frame_db.mean(axis=1, dtype=np.float64)


def mfcc_l1(a: Audio, b: Audio, sample_rate: int) -> Distances:
    """MFCC distance ("mfcc_l1"): mean |MFCC_a - MFCC_b| over N_MFCC coefficients (c0 included) and frames, in dB.

    MFCCs are the orthonormal DCT-II of the default log-mel front end (FeatureSettings) at ``sample_rate`` Hz.
    """
    array_a, array_b = _check_pair(a, b)
    settings = FeatureSettings(sample_rate=sample_rate, floor_db=FLOOR_DB)
    difference = mfcc(array_a, settings, N_MFCC) - mfcc(array_b, settings, N_MFCC)
    return np.abs(difference).mean(axis=(1, 2), dtype=np.float64)


def spectral_convergence(a: Audio, b: Audio) -> Distances:
    """Symmetric spectral convergence: ||Sa - Sb||_F / sqrt((||Sa||_F^2 + ||Sb||_F^2) / 2) -> float64[B].

    S are STFT magnitudes (SINGLE_FFT_SIZE, SINGLE_HOP) clipped below at the floor, so two silences are at 0;
    the value stays below sqrt(2), which it approaches when one sound is silent or the spectra do not overlap.
    """
    array_a, array_b = _check_pair(a, b)
    magnitude_a = np.maximum(stft_magnitude(array_a, SINGLE_FFT_SIZE, SINGLE_HOP), _FLOOR_MAGNITUDE)
    magnitude_b = np.maximum(stft_magnitude(array_b, SINGLE_FFT_SIZE, SINGLE_HOP), _FLOOR_MAGNITUDE)
    energy_a = np.sum(np.square(magnitude_a, dtype=np.float64), axis=(1, 2))
    energy_b = np.sum(np.square(magnitude_b, dtype=np.float64), axis=(1, 2))
    error = np.sqrt(np.sum(np.square(magnitude_a - magnitude_b, dtype=np.float64), axis=(1, 2)))
    return np.asarray(error / np.sqrt((energy_a + energy_b) / 2.0), dtype=np.float64)


def param_mae(params_a: npt.ArrayLike, params_b: npt.ArrayLike) -> Distances:
    """Mean absolute error of normalised parameters: pa[B, P], pb[B, P] -> float64[B] in [0, 1] for [0, 1] inputs."""
    array_a = np.atleast_2d(np.asarray(params_a, dtype=np.float64))
    array_b = np.atleast_2d(np.asarray(params_b, dtype=np.float64))
    if array_a.ndim != 2 or array_b.ndim != 2:
        raise ValueError(f"params must be [batch, parameters], got shapes {array_a.shape} and {array_b.shape}")
    _check_batches(array_a.shape, array_b.shape, "params")
    return np.asarray(np.abs(array_a - array_b).mean(axis=1), dtype=np.float64)


DISTANCES: dict[str, AudioDistance] = {
    "mrstft": lambda a, b, sample_rate: multires_stft_distance(a, b),
    "lsd_db": lambda a, b, sample_rate: log_spectral_distance_db(a, b),
    "mfcc_l1": mfcc_l1,
    "spectral_convergence": lambda a, b, sample_rate: spectral_convergence(a, b),
}
"""The audio distances by their stable names (used as keys in evaluation JSON); call ``f(a, b, sample_rate)``."""

PRIMARY = "mrstft"
"""Name of the distance the environment's reward and the headline results use."""


def audio_distance(name: str) -> AudioDistance:
    """The registered audio distance called ``name``; a KeyError lists the names and the closest match."""
    try:
        return DISTANCES[name]
    except KeyError:
        hint = did_you_mean(name, DISTANCES, list_known=False)
        raise KeyError(f"no distance called {name!r}; choose one of {', '.join(DISTANCES)}{hint}") from None
