"""The distance a listener hears: the matched sound as ``--audio-out`` writes it against the target at its own rate.

Matching compares sounds at the synth's rate (16 kHz for the built-in synth), so it ignores everything above its
Nyquist frequency. This judge does not: the target is read at its file's own rate, the matched patch is played as
``synthmatch match --audio-out`` plays it (:func:`synthmatch.matched_audio.render_matched`: the target's note
length, its output level, as long as the target sounds), resampled to the target's rate, and the primary distance
(``mrstft``, at equal loudness) is taken over the length both have. docs/metrics.md ("Full-band distance").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly

from synthmatch.audio_files import load_target, probe_audio_file
from synthmatch.distances import DISTANCES, PRIMARY
from synthmatch.matched_audio import render_matched
from synthmatch.note_length import MAX_RENDER_S
from synthmatch.output_level import OutputLevel
from synthmatch.prepared_target import PreparedTarget


@dataclass(frozen=True)
class FullBandTarget:
    """A target file read at its own rate, from its onset, up to :data:`MAX_RENDER_S`."""

    audio: npt.NDArray[np.float32]
    """float32 [M] at ``sample_rate``."""
    sample_rate: int
    """The file's sample rate in Hz."""


def read_full_band(path: str | Path) -> FullBandTarget:
    """The target in ``path`` at its own sample rate, aligned to its onset as every target is."""
    rate = int(round(probe_audio_file(path).sample_rate_hz))
    return FullBandTarget(load_target(path, rate, int(round(MAX_RENDER_S * rate))), rate)


def resampled(audio: npt.NDArray[np.floating], from_rate: int, to_rate: int) -> npt.NDArray[np.float32]:
    """``audio[N]`` at ``to_rate`` Hz (polyphase, as the audio input resamples)."""
    common = math.gcd(from_rate, to_rate)
    return np.asarray(resample_poly(np.asarray(audio, dtype=np.float64), to_rate // common, from_rate // common),
                      dtype=np.float32)


def full_band_distance(
    target: PreparedTarget, full_band: FullBandTarget, level: OutputLevel,
) -> float:
    """The primary distance (nepers) of the matched patch (``level``: its params and gain) as ``--audio-out``
    writes it, resampled to the target's rate, to the target at that rate, over the length both have."""
    definition = target.definition
    matched = render_matched(definition, level.params, target.note, target.length.sounding_seconds, level.gain_db)
    heard = resampled(matched, definition.note.sample_rate, full_band.sample_rate)
    samples = min(heard.size, full_band.audio.size)
    return float(DISTANCES[PRIMARY](heard[None, :samples], full_band.audio[None, :samples], full_band.sample_rate)[0])
