"""The matched sound as the synth plays it (note, gate, rate, output level), written to a file to listen to.

``synthmatch match --audio-out OUT.wav`` renders the best patch once more, this time for as long as the target
sounds (up to :data:`synthmatch.note_length.MAX_RENDER_S`) rather than the agent's fixed window, applies the
gain still to apply after the synth (:mod:`synthmatch.output_level`) and writes it at the synth's rate.
``--compare-out AB.wav`` writes the target at its own level (mono at the synth's rate, from its onset, as long as
the match), :data:`COMPARE_GAP_S` of silence, then that same matched sound.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pedalboard.io import AudioFile, get_supported_write_formats

from synthmatch.atomic_file import write_atomically
from synthmatch.definitions import SynthDefinition
from synthmatch.note_length import MAX_RENDER_S, with_note_length
from synthmatch.output_level import apply_gain
from synthmatch.synths import open_synth

#: Seconds of silence between the target and the match in ``--compare-out``.
COMPARE_GAP_S = 0.5


def check_audio_out_path(path: Path, option: str = "--audio-out") -> Path:
    """``path`` if pedalboard can write its format and its folder exists; else a ValueError naming ``option``."""
    formats = get_supported_write_formats()
    if path.suffix.lower() not in formats:
        raise ValueError(f"{option} {path}: cannot write {path.suffix or 'a file without a suffix'}; "
                         f"end the name with one of {', '.join(formats)}")
    if not path.parent.is_dir():
        raise ValueError(f"{option} {path}: the folder {path.parent} does not exist; create it first")
    return path


def render_matched(
    definition: SynthDefinition, params: npt.NDArray[np.floating], note: int, sounding_seconds: float,
    gain_db: float,
) -> npt.NDArray[np.float32]:
    """``params[P]`` played at ``note`` by ``definition`` (its note length as given) for as long as the target
    sounds (``sounding_seconds``, at least the definition's render, at most MAX_RENDER_S), ``gain_db`` applied:
    float32[N]."""
    render_s = min(MAX_RENDER_S, max(sounding_seconds, definition.note.render_seconds))
    synth = open_synth(with_note_length(definition, definition.note.note_seconds, render_s))
    return apply_gain(synth.render(np.asarray(params, dtype=np.float64)[None], note)[0], gain_db)


def compare_audio(
    target: npt.NDArray[np.floating], matched: npt.NDArray[np.floating], sample_rate: int,
    gap_s: float = COMPARE_GAP_S,
) -> npt.NDArray[np.float32]:
    """``target[N]``, ``gap_s`` seconds of silence, then ``matched[M]``, all at ``sample_rate``: float32[N + gap + M].

    Both are kept as they are: the target at its own level, the match at the level the match chose for it.
    """
    gap = np.zeros(round(gap_s * sample_rate), dtype=np.float32)
    return np.concatenate([np.asarray(target, dtype=np.float32), gap, np.asarray(matched, dtype=np.float32)])


def write_audio(path: Path, audio: npt.NDArray[np.floating], sample_rate: int) -> None:
    """Write mono ``audio[N]`` to ``path`` (format from its suffix, 16-bit for WAV and FLAC) atomically.

    Encoded in memory, then written by :func:`synthmatch.atomic_file.write_atomically`: a reader (a player, a
    DAW watching the folder) sees the old file or the whole new one, never half of one.
    """
    buffer = io.BytesIO()
    with AudioFile(buffer, "w", samplerate=float(sample_rate), num_channels=1,
                   format=path.suffix.lstrip(".")) as file:
        file.write(np.asarray(audio, dtype=np.float32)[None])
    write_atomically(path, buffer.getvalue())
