"""How long the target's note is held, so the synth plays its note that long.

A sample's note is held for as long as the player held it, not the definition's fixed ``note_seconds``. Its
envelope (RMS in 10 ms frames, in dB) tells: the note sounds from the onset to the end of the sound; the
release is the run of steep fall at the end of it. The exact rule and its constants are in docs/metrics.md
("Note length").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthmatch.definitions import SynthDefinition

FRAME_S = 0.01
"""Length of an envelope frame in seconds."""
ONSET_DB = -30.0
"""The note starts at the first frame within this many dB of the loudest frame (as audio_files' onset)."""
END_DB = -50.0
"""The sound ends after the last frame within this many dB of the loudest frame."""
SLOPE_SPAN_S = 0.04
"""The envelope's slope at a frame is its fall over this span, centred on the frame."""
RELEASE_SLOPE_DB_PER_S = 25.0
"""A fall steeper than this is a release (60 dB in 2.4 s); the release is the run of such frames at the end."""
MIN_NOTE_S = 0.05
"""Shortest note played, in seconds."""
MAX_RENDER_S = 4.0
"""Longest note played and longest render, in seconds (the longest the target is read for)."""


@dataclass(frozen=True)
class NoteLength:
    """How long a target's note is held and how long it sounds, both from its onset, in seconds."""

    note_seconds: float
    """From the onset to the release (note off), within [MIN_NOTE_S, MAX_RENDER_S]."""
    sounding_seconds: float
    """From the onset to the end of the sound (its release included), at most MAX_RENDER_S."""


def envelope_db(audio: npt.NDArray[np.floating], sample_rate: int) -> npt.NDArray[np.float64]:
    """RMS of audio[N] in frames of :data:`FRAME_S`, in dB re full scale: float64[frames] (-inf for silence)."""
    hop = max(1, int(round(FRAME_S * sample_rate)))
    array = np.asarray(audio, dtype=np.float64).reshape(-1)
    count = max(1, array.size // hop)
    frames = np.resize(np.pad(array, (0, max(0, count * hop - array.size))), (count, hop))
    with np.errstate(divide="ignore"):
        return np.asarray(10.0 * np.log10(np.mean(np.square(frames), axis=1)), dtype=np.float64)


def estimate_note_length(audio: npt.NDArray[np.floating], sample_rate: int) -> NoteLength:
    """Estimate how long the note in audio[N] is held and how long it sounds (see the module's docstring).

    From the end of the sound backwards, every frame whose slope falls faster than
    :data:`RELEASE_SLOPE_DB_PER_S` is part of the release; the note is released where that run begins. Silence
    gives the shortest note.
    """
    level = envelope_db(audio, sample_rate)
    peak = float(np.max(level))
    if not np.isfinite(peak):
        return NoteLength(MIN_NOTE_S, MIN_NOTE_S)
    onset = int(np.argmax(level >= peak + ONSET_DB))
    end = int(np.flatnonzero(level >= peak + END_DB)[-1]) + 1
    floored = np.maximum(level, peak + END_DB)
    half = max(1, int(round(SLOPE_SPAN_S / FRAME_S / 2)))
    padded = np.pad(floored, half, mode="edge")
    slope_db_per_s = (padded[2 * half:] - padded[:-2 * half]) / (2 * half * FRAME_S)
    release = end
    while release > onset + 1 and slope_db_per_s[release - 1] < -RELEASE_SLOPE_DB_PER_S:
        release -= 1
    note_s = (release - onset) * FRAME_S
    sounding_s = (end - onset) * FRAME_S
    return NoteLength(
        note_seconds=float(np.clip(note_s, MIN_NOTE_S, MAX_RENDER_S)),
        sounding_seconds=float(np.clip(sounding_s, MIN_NOTE_S, MAX_RENDER_S)),
    )


def check_note_seconds(note_seconds: float) -> float:
    """``note_seconds`` if it is within [MIN_NOTE_S, MAX_RENDER_S]; else a ValueError that says the range."""
    if not MIN_NOTE_S <= note_seconds <= MAX_RENDER_S:
        raise ValueError(f"--note-seconds {note_seconds:g} must be between {MIN_NOTE_S:g} and {MAX_RENDER_S:g} s "
                         "(how long the synth holds its note)")
    return note_seconds


def longest_render_samples(definition: SynthDefinition) -> int:
    """Samples of the longest render, :data:`MAX_RENDER_S` at ``definition``'s rate: how much of a target is read."""
    return int(round(MAX_RENDER_S * definition.note.sample_rate))


def with_note_length(
    definition: SynthDefinition, note_seconds: float, render_seconds: float | None = None
) -> SynthDefinition:
    """``definition`` playing its note for ``note_seconds`` (and rendering ``render_seconds``, default unchanged).

    The definition keeps its name and hash: only how the note is played changes, not the synth.
    """
    note = dataclasses.replace(
        definition.note, note_seconds=check_note_seconds(note_seconds),
        render_seconds=definition.note.render_seconds if render_seconds is None else render_seconds,
    )
    return dataclasses.replace(definition, note=note)
