"""The audio front end: the one implementation of spectrograms that training and the daemon both use.

Everything that turns audio into what the observer sees is here, in numpy, driven by a
:class:`FeatureSettings` that travels in every exported model's metadata. The daemon computes features with
exactly these functions and these settings, so the two wings cannot compute different features.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.fft

from synthmatch.loudness import equal_loudness

Audio = npt.NDArray[np.floating]


@dataclass(frozen=True)
class FeatureSettings:
    """Settings of the log-mel front end; part of a model's contract with the daemon."""

    sample_rate: int = 16000
    """Sample rate of the audio the features are computed from, in Hz."""
    n_fft: int = 1024
    """FFT size (and Hann window length) in samples."""
    hop_length: int = 256
    """Hop between frames in samples."""
    n_mels: int = 64
    """Number of mel bands."""
    fmin_hz: float = 30.0
    """Lowest mel band edge in Hz."""
    fmax_hz: float | None = None
    """Highest mel band edge in Hz; None means the Nyquist frequency."""
    floor_db: float = -80.0
    """Power below this level (dB re full scale) is clipped to it, so silence has one value."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for model metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSettings:
        """Inverse of :meth:`to_dict`; unknown keys are an error, so a model from a newer version is refused."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown feature settings: {', '.join(sorted(unknown))}")
        return cls(**data)

    def frames(self, samples: int) -> int:
        """Number of frames :func:`log_mel` gives for ``samples`` samples."""
        return 1 + samples // self.hop_length


@lru_cache(maxsize=16)
def hann_window(n_fft: int) -> npt.NDArray[np.float32]:
    """Periodic Hann window of length ``n_fft``."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def frame(audio: Audio, n_fft: int, hop_length: int) -> npt.NDArray[np.float32]:
    """Centred, zero-padded frames: audio[B, N] -> frames[B, 1 + N // hop, n_fft] (a view where possible)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    pad = n_fft // 2
    padded = np.pad(audio, ((0, 0), (pad, pad)))
    count = 1 + audio.shape[1] // hop_length
    windows = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=1)
    return windows[:, : count * hop_length : hop_length]


def stft_magnitude(audio: Audio, n_fft: int, hop_length: int) -> npt.NDArray[np.float32]:
    """Magnitude spectrogram |STFT| of audio[B, N] -> [B, frames, n_fft // 2 + 1], Hann-windowed, centred.

    The magnitude is scaled so that a full-scale sine has a peak bin of about 1 (0 dB).
    """
    window = hann_window(n_fft)
    spectrum = scipy.fft.rfft(frame(audio, n_fft, hop_length) * window, axis=-1, overwrite_x=True)
    magnitude = np.abs(spectrum)  # float32, and faster than sqrt(real**2 + imag**2)
    magnitude *= np.float32(2.0 / window.sum())
    return magnitude


def stft_power(audio: Audio, n_fft: int, hop_length: int) -> npt.NDArray[np.float32]:
    """Power spectrogram |STFT|^2 of audio[B, N] -> [B, frames, n_fft // 2 + 1]; see :func:`stft_magnitude`."""
    magnitude = stft_magnitude(audio, n_fft, hop_length)
    return np.square(magnitude, out=magnitude)


def hz_to_mel(hz: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Hz to mel (HTK formula)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Mel to Hz (HTK formula)."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_band_edges_hz(fmin_hz: float, fmax_hz: float, n_mels: int) -> npt.NDArray[np.float64]:
    """The mel bands' edges in Hz, [n_mels + 2], evenly spaced in mel: band m spans edges m..m+2, centred on m+1."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin_hz), hz_to_mel(fmax_hz), n_mels + 2))


@lru_cache(maxsize=16)
def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin_hz: float, fmax_hz: float
) -> npt.NDArray[np.float32]:
    """Triangular, area-normalised mel filters: [n_fft // 2 + 1, n_mels], to right-multiply a power spectrum."""
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = mel_band_edges_hz(fmin_hz, fmax_hz, n_mels)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None] - lower) / (centre - lower)
    falling = (upper - bins[None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (upper - lower))  # equal area, so broad high bands do not dominate
    return (weights.T * (sample_rate / n_fft)).astype(np.float32)


def log_mel(audio: Audio, settings: FeatureSettings) -> npt.NDArray[np.float32]:
    """Log-mel spectrogram in dB: audio[B, N] -> features[B, n_mels, frames], clipped below at ``floor_db``.

    This is the observation the observer network sees for both the target and the current sound.
    """
    fmax = settings.fmax_hz or settings.sample_rate / 2
    bank = mel_filterbank(settings.sample_rate, settings.n_fft, settings.n_mels, settings.fmin_hz, fmax)
    power = stft_power(audio, settings.n_fft, settings.hop_length)
    mel = (power.reshape(-1, power.shape[-1]) @ bank).reshape(*power.shape[:-1], settings.n_mels)  # one GEMM
    db = 10.0 * np.log10(np.maximum(mel, np.finfo(np.float32).tiny))
    np.maximum(db, settings.floor_db, out=db)  # clipped in dB, so silence is exactly floor_db
    return np.ascontiguousarray(db.transpose(0, 2, 1), dtype=np.float32)


#: Top of the observer's log-mel input in dB; louder bins are clipped to it. Since :func:`observe_mel` hears every
#: sound at the reference loudness (-24 dBFS RMS), bins stay well below it. Exported models record the value.
MEL_CEILING_DB = 20.0


def observe_mel(
    audio: Audio, settings: FeatureSettings, ceiling_db: float = MEL_CEILING_DB, *, at_equal_loudness: bool = False
) -> npt.NDArray[np.float32]:
    """What the observer sees of audio[B, N]: :func:`log_mel` at equal loudness, clipped to [floor_db, ceiling_db].

    Each row is first brought to the reference loudness (:func:`synthmatch.loudness.equal_loudness`), so the
    agent hears timbre, not level; ``at_equal_loudness`` True says the caller already did (the match loop
    brings each sound there once for the observer and the distance). The training environment and the daemon
    both call this, so the agent hears the same thing in both wings.
    """
    heard = audio if at_equal_loudness else equal_loudness(audio)
    return np.minimum(log_mel(heard, settings), np.float32(ceiling_db))


def mfcc(audio: Audio, settings: FeatureSettings, n_mfcc: int = 20) -> npt.NDArray[np.float32]:
    """Mel-frequency cepstral coefficients in dB, c0 included: audio[B, N] -> [B, n_mfcc, frames].

    The orthonormal DCT-II of :func:`log_mel` over the mel axis, so a level change of g dB in every band moves
    only c0, by g * sqrt(n_mels).
    """
    if not 1 <= n_mfcc <= settings.n_mels:
        raise ValueError(f"n_mfcc must be in 1..n_mels ({settings.n_mels}), got {n_mfcc}")
    cepstrum = scipy.fft.dct(log_mel(audio, settings), type=2, norm="ortho", axis=1)[:, :n_mfcc]
    return np.ascontiguousarray(cepstrum, dtype=np.float32)
