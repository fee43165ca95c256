"""Band-limited wavetable oscillators and the sine LFO of the built-in synth, batched and loop-free.

Each row gets its own single-cycle table, built from the harmonic series of its waveform (a morph through
sine -> triangle -> saw -> square) with every harmonic at or above the Nyquist frequency for that row's highest
instantaneous frequency left out: a mipmap of exactly one level, chosen per row. Playback accumulates
instantaneous frequency with one ``np.cumsum`` over the whole batch and reads the table with linear
interpolation, so no Python loop runs per sample.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.fft

#: Samples in one cycle of a wavetable; a power of two so that the phase wraps with a bit mask.
TABLE_SIZE = 2048
#: Waveforms that ``shape`` morphs through, at shape = 0, 1, 2, 3.
SHAPES: tuple[str, ...] = ("sine", "triangle", "saw", "square")


def shape_harmonics(harmonics: int) -> npt.NDArray[np.float64]:
    """Sine-series amplitudes of the four :data:`SHAPES`: [4, harmonics], column k - 1 for harmonic k.

    Every waveform starts rising from zero at phase 0 with a positive fundamental, so morphing between
    neighbours never cancels the fundamental.
    """
    k = np.arange(1, harmonics + 1, dtype=np.float64)
    odd = k % 2 == 1
    sine = (k == 1).astype(np.float64)
    triangle = np.where(odd, 8 / np.pi**2 * (-1.0) ** ((k - 1) // 2) / k**2, 0.0)
    saw = 2 / np.pi * (-1.0) ** (k + 1) / k
    square = np.where(odd, 4 / (np.pi * k), 0.0)
    return np.stack([sine, triangle, saw, square])


#: :func:`shape_harmonics` for every harmonic a table can hold below its own Nyquist: [4, TABLE_SIZE / 2 - 1].
_SHAPE_HARMONICS = shape_harmonics(TABLE_SIZE // 2 - 1)


def morph_weights(shape: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Weights of the four :data:`SHAPES` for a morph position ``shape[B]`` in [0, 3]: [B, 4], rows sum to 1.

    Linear crossfade between the two neighbouring waveforms (1.5 is half triangle, half saw).
    """
    position = np.asarray(shape, dtype=np.float64)[:, None]
    return np.maximum(0.0, 1.0 - np.abs(position - np.arange(len(SHAPES))))


def wavetables(shape: npt.ArrayLike, highest_hz: npt.ArrayLike, sample_rate_hz: int) -> npt.NDArray[np.float32]:
    """One band-limited cycle per row: shape[B] in [0, 3], highest_hz[B] -> tables[B, TABLE_SIZE].

    ``highest_hz`` is the highest fundamental the row will play; harmonics of it at or above the Nyquist
    frequency are dropped, so the table cannot alias. Rows whose fundamental is itself above Nyquist are silent.
    """
    weights = morph_weights(shape)
    amplitudes = weights[:, :1] * _SHAPE_HARMONICS[0]
    for index in range(1, len(SHAPES)):  # not a GEMM, whose rounding of a row depends on the batch size
        amplitudes += weights[:, index : index + 1] * _SHAPE_HARMONICS[index]
    k = np.arange(1, amplitudes.shape[1] + 1)
    amplitudes *= k[None, :] * np.asarray(highest_hz, dtype=np.float64)[:, None] < sample_rate_hz / 2
    spectrum = np.zeros((len(amplitudes), TABLE_SIZE // 2 + 1), dtype=np.complex64)
    spectrum[:, 1:-1] = -0.5j * TABLE_SIZE * amplitudes  # irfft of this is sum_k a_k sin(2 pi k n / TABLE_SIZE)
    tables: npt.NDArray[np.float32] = scipy.fft.irfft(spectrum, n=TABLE_SIZE, axis=-1)
    return tables


def phase_cycles(frequency_hz: npt.ArrayLike, sample_rate_hz: int) -> npt.NDArray[np.float64]:
    """Running phase in cycles of an oscillator with instantaneous frequency_hz[B, N]: [B, N] float64.

    Accumulated in float64, so that thousands of cycles keep their fraction exact.
    """
    increments = np.divide(frequency_hz, sample_rate_hz, dtype=np.float64)
    return np.cumsum(increments, axis=-1, out=increments)


def play_wavetables(
    tables: npt.NDArray[np.float32], phase: npt.ArrayLike, ratio: npt.ArrayLike | None = None
) -> npt.NDArray[np.float32]:
    """Read tables[B, TABLE_SIZE] with linear interpolation at phase[B, N] (cycles, >= 0): audio[B, N] float32.

    ``ratio[B]`` multiplies the phase first: an oscillator tuned ``ratio`` times higher that follows the same
    pitch bend, without a second running phase.
    """
    rows, size = tables.shape
    scale = np.full(rows, size, dtype=np.float64) if ratio is None else size * np.asarray(ratio, np.float64)
    position = np.multiply(phase, scale[:, None], dtype=np.float64)
    whole = np.floor(position)
    position -= whole
    index = whole.astype(np.intp)
    index &= size - 1
    index += (np.arange(rows) * size)[:, None]
    audio = np.take(np.roll(tables, -1, axis=1) - tables, index)
    audio *= position.astype(np.float32)
    audio += np.take(tables, index)
    return audio


def sine_lfo(rate_hz: npt.ArrayLike, times_s: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """A sine LFO in [-1, 1], restarted at phase 0 on every note: rate_hz[B], times_s[T] -> [B, T] float32."""
    angular = (2 * np.pi * np.asarray(rate_hz, dtype=np.float64)).astype(np.float32)[:, None]
    wave = angular * np.asarray(times_s, dtype=np.float32)[None, :]
    return np.sin(wave, out=wave)
