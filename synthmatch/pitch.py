"""The pitch of a target, so the synth plays the note the target was played at.

The agent matches timbre; the note is chosen before it starts. :func:`estimate_f0_hz` runs YIN (de Cheveigné &
Kawahara 2002) on the steady, loud part of the sound, vectorised over frames with one FFT each, and answers
None for sounds without a clear period (noise, clicks). YIN takes the shortest period whose normalised
difference dips below a threshold, which avoids the octave-down errors of plain autocorrelation on saws and
squares and finds the period of a note whose fundamental is weak or missing; a check of the period's multiples
then catches octave-up errors from a dominant second harmonic. The estimate is the median over frames, so
vibrato averages out. :func:`choose_note` turns the estimate into the note to play.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import scipy.fft

from synthmatch.definitions import NoteSettings

#: A frame is periodic where YIN's normalised difference dips below this (0 is a perfect repeat, ~1 noise).
YIN_THRESHOLD = 0.3
#: Lags are searched in steps of 1 / this many samples, so a note of a few samples' period is found exactly.
LAG_STEPS_PER_SAMPLE = 4
#: Twice or three times the chosen period replaces it where its dip is below this fraction of the chosen one's
#: (a dip at half or a third of the period comes from a dominant 2nd or 3rd harmonic: an octave-up error) ...
MULTIPLE_RATIO = 0.5
#: ... and lower by at least this, so two near-perfect dips of a clean tone do not swap.
MULTIPLE_MIN_DROP = 0.01
#: The steady part: frames whose energy is within this many dB of the loudest frame's.
STEADY_RANGE_DB = 20.0
#: The sound is pitched when at least this fraction of its steady frames is periodic.
MIN_PERIODIC_FRACTION = 0.5
#: ... and at least this many frames are.
MIN_PERIODIC_FRAMES = 3


def estimate_f0_hz(
    audio: npt.NDArray[np.floating], sample_rate: int, *, fmin_hz: float = 30.0, fmax_hz: float = 4200.0
) -> float | None:
    """Fundamental frequency in Hz of ``audio[N]`` (mono, at ``sample_rate`` Hz), or None when unpitched.

    Periods from ``1 / fmax_hz`` to ``1 / fmin_hz`` are searched, in frames of two of the longest periods, so
    the audio must hold at least ``2 / fmin_hz`` seconds.
    """
    if np.ndim(audio) != 1:
        raise ValueError(f"estimate_f0_hz takes mono audio of shape [samples], got shape {np.shape(audio)}")
    max_lag = int(math.ceil(sample_rate / fmin_hz))
    frames = _frames(np.asarray(audio, dtype=np.float64), max_lag)
    if frames.shape[0] == 0:
        return None
    difference, energy = _difference(frames, max_lag)
    if not np.any(energy > 0.0):
        return None
    steady = energy >= energy.max() * 10.0 ** (-STEADY_RANGE_DB / 10.0)
    min_step = max(2, int(LAG_STEPS_PER_SAMPLE * sample_rate / fmax_hz))
    periods = _periods(_normalised(difference[steady]), min_step) / LAG_STEPS_PER_SAMPLE
    periodic = periods[np.isfinite(periods)]
    if periodic.size < max(MIN_PERIODIC_FRAMES, MIN_PERIODIC_FRACTION * periods.size):
        return None
    return float(sample_rate / np.exp(np.median(np.log(periodic))))


def nearest_midi_note(f0_hz: float) -> int:
    """The MIDI note nearest to ``f0_hz`` (A4 = 69 = 440 Hz), clipped to 0..127."""
    if not (math.isfinite(f0_hz) and f0_hz > 0.0):
        raise ValueError(f"frequency must be a positive number of Hz, got {f0_hz!r}")
    return int(np.clip(round(69.0 + 12.0 * math.log2(f0_hz / 440.0)), 0, 127))


def choose_note(settings: NoteSettings, f0_hz: float | None, requested_note: int | None = None) -> int:
    """The MIDI note to match a target with: the requested one, else the target's pitch, else the default.

    A pitched target gets its nearest note, clipped to ``settings.lowest_note..highest_note`` (the range the
    synth and the agent know); an unpitched one (``f0_hz`` None) gets ``settings.midi_note``. A requested note
    outside that range is refused with a ValueError naming it.
    """
    if requested_note is not None:
        lowest, highest = settings.lowest_note, settings.highest_note
        if not lowest <= requested_note <= highest:
            raise ValueError(f"note {requested_note} is outside the synth's playable range {lowest}..{highest} "
                             "(lowest_note..highest_note in its definition's [note] table); give a note in it")
        return requested_note
    if f0_hz is None:
        return settings.midi_note
    return int(np.clip(nearest_midi_note(f0_hz), settings.lowest_note, settings.highest_note))


def _frames(audio: npt.NDArray[np.float64], max_lag: int) -> npt.NDArray[np.float64]:
    """Overlapping frames of ``2 * max_lag`` samples, hop ``max_lag // 2``: [F, 2 * max_lag]."""
    if audio.size < 2 * max_lag:
        return np.empty((0, 2 * max_lag))
    return np.lib.stride_tricks.sliding_window_view(audio, 2 * max_lag)[:: max(1, max_lag // 2)]


def _difference(
    frames: npt.NDArray[np.float64], max_lag: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """YIN's difference d[F, step] = sum_j (x_j - x_{j+lag})^2 over j < max_lag, and each frame's energy [F].

    Lags go from 0 to ``max_lag`` in steps of 1 / :data:`LAG_STEPS_PER_SAMPLE` samples: the cross term is
    interpolated exactly by zero-padding its spectrum, the energies linearly, so short periods between two
    samples are resolved.
    """
    size = scipy.fft.next_fast_len(3 * max_lag)
    steps = max_lag * LAG_STEPS_PER_SAMPLE + 1
    spectrum = scipy.fft.rfft(frames, size, axis=-1)
    head = scipy.fft.rfft(frames[:, :max_lag], size, axis=-1)
    fine = size * LAG_STEPS_PER_SAMPLE
    cross = scipy.fft.irfft(np.conj(head) * spectrum, fine, axis=-1)[:, :steps] * LAG_STEPS_PER_SAMPLE
    squares = np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(frames**2, axis=1)], axis=1)
    shifted = squares[:, max_lag : 2 * max_lag + 1] - squares[:, : max_lag + 1]
    lags = np.arange(steps) / LAG_STEPS_PER_SAMPLE
    whole = np.minimum(lags.astype(np.int64), max_lag - 1)
    fraction = lags - whole
    shifted_fine = shifted[:, whole] * (1.0 - fraction) + shifted[:, whole + 1] * fraction
    energy = shifted[:, 0]
    return np.maximum(energy[:, None] + shifted_fine - 2.0 * cross, 0.0), energy


def _normalised(difference: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """YIN's cumulative-mean-normalised difference d'[F, step]: 1 at step 0, d(step) / mean(d(1..step)) after."""
    steps = np.arange(difference.shape[1])
    running = np.cumsum(difference, axis=1)
    out = np.ones_like(difference)
    out[:, 1:] = difference[:, 1:] * steps[1:] / np.maximum(running[:, 1:], 1e-300)
    return out


def _periods(normalised: npt.NDArray[np.float64], min_step: int) -> npt.NDArray[np.float64]:
    """Each frame's period in lag steps (fractional) from d'[F, step]; NaN where the frame is aperiodic.

    The period is the first dip below :data:`YIN_THRESHOLD`, or twice or three times it where the dip there is
    much deeper (:data:`MULTIPLE_RATIO`). Dips are compared at their parabola-refined depth, so a period that
    falls between two lag steps does not look shallower than its multiple.
    """
    rising_next = normalised[:, 1:] >= normalised[:, :-1]
    candidate = (normalised[:, :-1] < YIN_THRESHOLD) & rising_next
    candidate[:, :min_step] = False
    period, depth = _refined_dip(normalised, candidate.argmax(axis=1))
    for multiple in (2, 3):
        around = np.rint(period[:, None] * multiple).astype(np.int64) + np.arange(-multiple, multiple + 1)
        inside = around[:, -1] < normalised.shape[1] - 1
        around = np.clip(around, 1, normalised.shape[1] - 2)
        rows = np.arange(normalised.shape[0])
        longer, longer_depth = _refined_dip(normalised, around[rows, normalised[rows[:, None], around].argmin(1)])
        deeper = inside & (longer_depth < np.minimum(MULTIPLE_RATIO * depth, depth - MULTIPLE_MIN_DROP))
        period, depth = np.where(deeper, longer, period), np.where(deeper, longer_depth, depth)
    return np.where(candidate.any(axis=1), period, np.nan)


def _refined_dip(
    normalised: npt.NDArray[np.float64], lag: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The parabola through d'[F, step - 1 .. step + 1] at ``lag[F]``: its minimum's fractional step and depth."""
    rows = np.arange(normalised.shape[0])
    lag = np.clip(lag, 1, normalised.shape[1] - 2)
    below, at, above = normalised[rows, lag - 1], normalised[rows, lag], normalised[rows, lag + 1]
    curvature = below - 2.0 * at + above
    safe = np.where(curvature > 0.0, curvature, 1.0)
    offset = np.where(curvature > 0.0, np.clip(0.5 * (below - above) / safe, -0.5, 0.5), 0.0)
    return lag.astype(np.float64) + offset, at - 0.25 * (below - above) * offset
