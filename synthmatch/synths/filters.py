"""A time-varying resonant low-pass filter applied frame by frame in the frequency domain.

Why not a recursive filter: a per-sample recursion with a moving cutoff is a Python loop per sample, or one
``lfilter`` call per row and block, both far too slow for a batch of 64. Instead the audio is cut into
Hann-windowed frames (``frame_length`` samples, hop ``frame_length / 2``, so the windows sum to one), each
frame is zero-padded to twice its length, multiplied in the frequency domain by the analog filter's complex
response at that frame's cutoff, and the frames are overlap-added back. The padding leaves room for the
filter's ring-out, so within one frame the result is an exact causal convolution; across frames the cutoff
moves in steps of one hop that the overlapping windows crossfade, which sounds like a smooth sweep.

The filter is a four-pole transistor-ladder low-pass (24 dB per octave, resonance by negative feedback
around the four poles), evaluated from its analog transfer function, so it cannot blow up at any setting.
With the cutoff held still, the result matches the analog filter applied to the whole note to within
-30 dB (-50 dB without resonance); :class:`LadderFilter` says how resonance is limited at low cutoffs so
that a long ring cannot wrap round a frame.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.fft

#: Feedback of the ladder at resonance 1; 4 would self-oscillate with infinite gain at the cutoff.
MAX_FEEDBACK = 3.6
#: The cutoff is kept within these limits in Hz, whatever the modulation.
CUTOFF_FLOOR_HZ = 10.0
CUTOFF_CEILING_HZ = 40000.0
#: Resolution of the tabulated response: 1/256 octave is 0.27 % in frequency.
STEPS_PER_OCTAVE = 256
#: Number of resonance values tabulated, evenly from 0 to 1.
RESONANCE_LEVELS = 128
#: How far a resonant ring must fall within one frame's zero padding; see :class:`LadderFilter`.
RING_DECAY_DB = 40.0


def frame_length_for(sample_rate_hz: int) -> int:
    """Analysis frame length in samples: the power of two nearest 32 ms (512 at 16 kHz, 2048 at 48 kHz)."""
    return int(2 ** round(np.log2(0.032 * sample_rate_hz)))


def frame_count(samples: int, frame_length: int) -> int:
    """Number of frames :func:`frame_spectra` cuts ``samples`` samples into (every sample in two frames)."""
    return (samples - 1) // (frame_length // 2) + 2


def frame_centres_s(samples: int, frame_length: int, sample_rate_hz: int) -> npt.NDArray[np.float32]:
    """Time of each frame's centre in seconds: [frames]; frame t is centred on sample t * hop."""
    hop = frame_length // 2
    return (np.arange(frame_count(samples, frame_length)) * (hop / sample_rate_hz)).astype(np.float32)


def bin_frequencies_hz(frame_length: int, sample_rate_hz: int) -> npt.NDArray[np.float32]:
    """Centre frequency of each bin of :func:`frame_spectra`: [frame_length + 1] in Hz."""
    return scipy.fft.rfftfreq(2 * frame_length, 1.0 / sample_rate_hz).astype(np.float32)


def frame_spectra(audio: npt.NDArray[np.floating], frame_length: int) -> npt.NDArray[np.complex64]:
    """Spectra of Hann-windowed, twice zero-padded frames: audio[B, N] -> [B, frames, frame_length + 1].

    Frame t covers samples (t - 1) * hop ... (t + 1) * hop - 1, hop = frame_length // 2.
    """
    hop = frame_length // 2
    rows, samples = audio.shape
    frames = frame_count(samples, frame_length)
    padded = np.zeros((rows, (frames + 1) * hop), dtype=np.float32)
    padded[:, hop : hop + samples] = audio
    windows = np.lib.stride_tricks.sliding_window_view(padded, frame_length, axis=1)[:, ::hop]
    window = np.hanning(frame_length + 1)[:-1].astype(np.float32)  # periodic: overlaps at hop sum to 1
    zero_padded = np.zeros((rows, frames, 2 * frame_length), dtype=np.float32)
    np.multiply(windows, window, out=zero_padded[..., :frame_length])
    spectra: npt.NDArray[np.complex64] = scipy.fft.rfft(zero_padded, axis=-1, overwrite_x=True)
    return spectra


def overlap_add(spectra: npt.NDArray[np.complexfloating], samples: int) -> npt.NDArray[np.float32]:
    """Inverse of :func:`frame_spectra`: spectra[B, frames, frame_length + 1] -> audio[B, samples] float32.

    Each frame's full zero-padded length (the filter's ring-out included) is added back at its place.
    """
    frames_out = scipy.fft.irfft(spectra, axis=-1).astype(np.float32, copy=False)
    rows, frames, padded_length = frames_out.shape
    hop = padded_length // 4
    quarters = frames_out.reshape(rows, frames, 4, hop)
    out = np.zeros((rows, frames + 3, hop), dtype=np.float32)
    for quarter in range(4):
        out[:, quarter : quarter + frames] += quarters[:, :, quarter]
    return out.reshape(rows, -1)[:, hop : hop + samples]


class LadderFilter:
    """The ladder low-pass's response on the bins of :func:`frame_spectra`, tabulated once, read per frame.

    The response depends only on frequency / cutoff and on the resonance, so it is computed exactly
    (:func:`ladder_response_at`) once, on a log grid of :data:`STEPS_PER_OCTAVE` points per octave for each
    of :data:`RESONANCE_LEVELS` resonance values, and rendering reads the nearest grid point: three array
    passes per render instead of twenty.

    A resonant filter at a low cutoff rings for longer than the frame's zero padding has room for, and
    the ring would wrap round to the start of the frame and click. So the resonance is capped where the
    ring would not fall by :data:`RING_DECAY_DB` within the padding (``frame_length`` samples, 32 ms):
    full resonance is kept from about 1 kHz up, 0.8 at 300 Hz, 0.4 at 100 Hz, none below about 30 Hz.
    """

    def __init__(self, frame_length: int, sample_rate_hz: int) -> None:
        frequencies = bin_frequencies_hz(frame_length, sample_rate_hz).astype(np.float64)
        octaves = np.log2(frequencies[1:])
        self._lowest = float(octaves.min() - np.log2(CUTOFF_CEILING_HZ))
        self._size = 1 + int(np.ceil((octaves.max() - np.log2(CUTOFF_FLOOR_HZ) - self._lowest) * STEPS_PER_OCTAVE))
        self._bin_steps = (np.concatenate([[octaves[0]], octaves]) * STEPS_PER_OCTAVE).astype(np.float32)
        # Entry 0 of each resonance level's row is 0 Hz (the first bin's own entry), then the log grid.
        ratios = np.concatenate([[0.0], 2 ** (self._lowest + np.arange(1, self._size) / STEPS_PER_OCTAVE)])
        self._table = ladder_response_at(ratios, np.linspace(0, 1, RESONANCE_LEVELS)).ravel()
        self._required_decay_per_s = RING_DECAY_DB / (20 * np.log10(np.e)) * sample_rate_hz / frame_length

    def response(self, cutoff_hz: npt.ArrayLike, resonance: npt.ArrayLike) -> npt.NDArray[np.complex64]:
        """Response at cutoff_hz[B, T] (clipped to the floor and ceiling) and resonance[B] in [0, 1]: [B, T, F]."""
        cutoff = np.clip(np.asarray(cutoff_hz, dtype=np.float64), CUTOFF_FLOOR_HZ, CUTOFF_CEILING_HZ)
        level = np.minimum(np.asarray(resonance, dtype=np.float64)[:, None], self._resonance_cap(cutoff))
        row_start = np.rint(level * (RESONANCE_LEVELS - 1)).astype(np.intp) * self._size
        # Flat index of bin f: row start + (log2 f - log2 cutoff - lowest) * steps, rounded by the 0.5.
        offset = (np.log2(cutoff) + self._lowest) * STEPS_PER_OCTAVE - 0.5 - row_start
        index = (self._bin_steps - offset.astype(np.float32)[..., None]).astype(np.intp)
        index[..., 0] = row_start
        response: npt.NDArray[np.complex64] = np.take(self._table, index)
        return response

    def _resonance_cap(self, cutoff_hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Highest resonance whose ring decays by RING_DECAY_DB within the padding, at cutoff_hz[B, T]."""
        # The slowest poles of 1 / ((1 + s / wc)^4 + k) decay at wc * (1 - k^(1/4) cos(pi / 4)) per second.
        root = (1 - self._required_decay_per_s / (2 * np.pi * cutoff_hz)) / np.cos(np.pi / 4)
        return np.maximum(root, 0) ** 4 / MAX_FEEDBACK


def ladder_response_at(ratio: npt.ArrayLike, resonance: npt.ArrayLike) -> npt.NDArray[np.complex64]:
    """Exact ladder response at frequency / cutoff ratio[G] for resonance[B] in [0, 1]: [B, G] complex64.

    H(s) = g / ((1 + s)^4 + k) with s = j ratio, feedback k = MAX_FEEDBACK * resonance and g = sqrt(1 + k),
    which halves the ladder's loss of low end at full resonance instead of letting the level drop fivefold.
    At the cutoff the response is -12 dB without resonance and +14.6 dB at full resonance.
    """
    r = np.asarray(ratio, dtype=np.float64)[None, :]
    feedback = MAX_FEEDBACK * np.asarray(resonance, dtype=np.float64)[:, None]
    u = r * r
    # (1 + j r)^4 = (1 - 6 r^2 + r^4) + j 4 r (1 - r^2)
    real = u * (u - 6) + 1 + feedback
    imag = 4 * r * (1 - u)
    response = np.sqrt(1 + feedback) * (real - 1j * imag) / (real * real + imag * imag)
    return response.astype(np.complex64)
