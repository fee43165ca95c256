"""A target as every matcher hears it: the note held as long as the target's, its pitch, its audio cut to the render.

``synthmatch match``, the daemon (a loaded file or a recording), ``synthmatch eval --targets`` and the real-set
bench all prepare a target here, so they play the same note for the same time: the note length estimated from the
target's envelope (:mod:`synthmatch.note_length`) unless overridden, the note from its pitch
(:mod:`synthmatch.pitch`) unless given, and the definition holding that note. After the match, :func:`level_of`
sets the output level the same way for all of them (:mod:`synthmatch.output_level`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from synthmatch.audio_files import load_target
from synthmatch.definitions import SynthDefinition
from synthmatch.note_length import NoteLength, estimate_note_length, longest_render_samples, with_note_length
from synthmatch.output_level import OutputLevel, set_output_level
from synthmatch.pitch import choose_note, estimate_f0_hz
from synthmatch.synths import Synth


@dataclass(frozen=True)
class PreparedTarget:
    """A target ready to match: the definition holding its note, its audio in the render window, its note."""

    definition: SynthDefinition
    """The synth's definition with ``note_seconds`` the target's (or the override); name and hash unchanged."""
    audio: npt.NDArray[np.float32]
    """float32 [N] from the onset, N the definition's render length at its rate: what every distance compares."""
    note: int
    """MIDI note the synth plays."""
    length: NoteLength
    """The target's note length as estimated (``sounding_seconds``: how long ``--audio-out`` renders)."""

    @property
    def note_seconds(self) -> float:
        """How long the synth holds its note, in seconds."""
        return self.definition.note.note_seconds


def prepare_target(
    base: SynthDefinition, heard: npt.NDArray[np.floating], note_seconds: float | None = None, note: int | None = None
) -> PreparedTarget:
    """The target of ``heard[M]`` (mono, at ``base``'s rate, from its onset, up to the longest render) on ``base``.

    ``note_seconds`` overrides the estimated note length (checked: a ValueError names the range); ``note``
    overrides the pitch's note (checked against the definition's playable range).
    """
    audio = np.asarray(heard, dtype=np.float32).reshape(-1)
    rate = base.note.sample_rate
    length = estimate_note_length(audio, rate)
    definition = with_note_length(base, length.note_seconds if note_seconds is None else note_seconds)
    samples = definition.note.render_samples
    window = np.pad(audio[:samples], (0, max(0, samples - audio.size)))
    f0_hz = estimate_f0_hz(window, rate) if note is None else None
    return PreparedTarget(definition, window, choose_note(definition.note, f0_hz, note), length)


def read_prepared_target(
    path: str | Path, base: SynthDefinition, note_seconds: float | None = None, note: int | None = None
) -> PreparedTarget:
    """The target in the audio file ``path`` (read up to the longest render, from its onset), prepared on ``base``."""
    heard = load_target(path, base.note.sample_rate, longest_render_samples(base))
    return prepare_target(base, heard, note_seconds, note)


def level_of(
    synth: Synth, params: npt.NDArray[np.floating], target: PreparedTarget, by_volume: bool = True
) -> OutputLevel:
    """The output level of matched ``params[P]`` on ``synth`` (holding the target's note), at the target's loudness.

    ``by_volume`` False leaves the volume parameter alone and measures only the gain still to apply (one render):
    for a synth played live, which plays one note at a time.
    """
    return set_output_level(synth, np.asarray(params, dtype=np.float64), target.audio, target.note,
                            by_volume=by_volume)
