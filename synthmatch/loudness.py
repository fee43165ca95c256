"""Loudness of a note, and the equal-loudness step every feature and distance starts with.

Level is the fader's business: a sample peak-normalised to -1 dBFS and the same sample 24 dB down are the same
timbre, so the observer and every distance hear each sound brought to :data:`REFERENCE_DBFS` first (see
:func:`equal_loudness`), and the output level is set afterwards (:mod:`synthmatch.output_level`). The exact
definition, with its constants, is in docs/metrics.md ("Loudness").
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Audio = npt.NDArray[np.floating]

BLOCK_SAMPLES = 256
"""Loudness is measured in blocks of this many samples (16 ms at 16 kHz); a shorter tail is a block of its own."""
GATE_DB = -30.0
"""Blocks more than this many dB below the loudest block are not part of the sounding note and do not count."""
QUIET_FLOOR_DBFS = -70.0
"""A sound whose loudness is below this (dB re full scale, RMS) counts as silence and is never amplified."""
REFERENCE_DBFS = -24.0
"""The loudness every sound is brought to before features and distances: the built-in synth's default patch."""


def loudness_db(audio: Audio) -> npt.NDArray[np.float64]:
    """RMS loudness over the sounding note in dB re full scale: audio[B, N] (or [N]) -> float64[B].

    The mean square of each block of :data:`BLOCK_SAMPLES` samples; the blocks within :data:`GATE_DB` of the
    loudest count; the loudness is 10 log10 of their mean. Silence gives -inf.
    """
    array = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    starts = np.arange(0, array.shape[1], BLOCK_SAMPLES)
    sizes = np.diff(np.append(starts, array.shape[1]))
    mean_square = np.add.reduceat(np.square(array), starts, axis=1).astype(np.float64) / sizes  # 256-term float32 sums
    loudest = mean_square.max(axis=1, keepdims=True)
    sounding = mean_square >= loudest * 10.0 ** (GATE_DB / 10.0)
    gated = np.sum(mean_square * sounding, axis=1) / np.maximum(np.sum(sounding, axis=1), 1)
    with np.errstate(divide="ignore"):
        return np.asarray(10.0 * np.log10(gated), dtype=np.float64)


def loudness_gain(audio: Audio) -> npt.NDArray[np.float64]:
    """The linear gain that brings each row of audio[B, N] to :data:`REFERENCE_DBFS`: float64[B]; 1 for silence."""
    level = loudness_db(audio)
    audible = level >= QUIET_FLOOR_DBFS
    return np.where(audible, 10.0 ** ((REFERENCE_DBFS - np.where(audible, level, 0.0)) / 20.0), 1.0)


def equal_loudness(audio: Audio) -> npt.NDArray[np.float32]:
    """audio[B, N] (or [N], as [1, N]) with every audible row scaled to :data:`REFERENCE_DBFS`: float32[B, N].

    Each row is scaled on its own, so a row's result never depends on the rest of the batch.
    """
    array = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    return array * loudness_gain(array).astype(np.float32)[:, None]
