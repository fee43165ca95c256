"""The targets an evaluation matches, and the recordings RL may train on: seeded random patches or audio files.

Numpy and the daemon side only (no torch), because the environment worker loads training recordings with
:func:`folder_targets` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pedalboard.io import get_supported_read_formats

from synthmatch.prepared_target import PreparedTarget, read_prepared_target
from synthmatch.synths import Synth
from synthmatch.training.environment import MatchTask

#: Second seed word of the held-out targets' stream: SeedSequence([seed, HELD_OUT_STREAM]).spawn(N).
HELD_OUT_STREAM = 0x5E1D


@dataclass(frozen=True)
class Target:
    """One target of an evaluation: its name, its sound, the note to play, and its patch when known."""

    name: str
    audio: npt.NDArray[np.float32]
    """The sound [N] at the synth's sample rate and render length."""
    note: int
    params: npt.NDArray[np.float64] | None
    """The patch [P] that made it (normalised, quantised), None for a recording."""
    prepared: PreparedTarget | None = None
    """A recording as ``synthmatch match`` prepares it (note length, note), None for a random patch."""
    path: Path | None = None
    """The recording's file, None for a random patch."""


def random_targets(synth: Synth, count: int, seed: int) -> list[Target]:
    """``count`` held-out random patches at random notes, drawn as the environment draws its targets."""
    if count < 1:
        raise ValueError(f"--random {count}: the number of random targets must be at least 1 (default 256)")
    task = MatchTask(synth)
    children = np.random.SeedSequence([seed, HELD_OUT_STREAM]).spawn(count)
    batch = task.start([np.random.default_rng(child) for child in children], {"start": "default"})
    audio = task.render(batch.target_params, batch.notes)
    return [Target(f"random-{i:04d}", audio[i], int(batch.notes[i]), batch.target_params[i]) for i in range(count)]


def folder_targets(synth: Synth, folder: Path) -> list[Target]:
    """Every audio file directly in ``folder`` (sorted by name), prepared as ``synthmatch match`` prepares it.

    The note is the estimated pitch's; the note length (``prepared``) is the target's, which an evaluation plays
    and the training environment (its own fixed note) ignores.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"--targets {folder}: no such folder; make one with scripts/make-real-targets.sh")
    formats = {suffix.lower() for suffix in get_supported_read_formats()}
    files = sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in formats)
    if not files:
        raise ValueError(f"--targets {folder}: no audio files ({', '.join(sorted(formats))}) in it; "
                         "scripts/make-real-targets.sh renders a set")
    targets = []
    for path in files:
        prepared = read_prepared_target(path, synth.definition)
        targets.append(Target(path.name, prepared.audio, prepared.note, None, prepared, path))
    return targets
