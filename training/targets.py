"""The targets an evaluation matches, and the recordings RL may train on: seeded random patches, audio files, or
the held-out recordings of a data set.

Numpy and the daemon side only (no torch), because the environment worker loads training recordings with
:func:`folder_targets` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pedalboard.io import get_supported_read_formats

from synthmatch.datasets import Dataset, DatasetError, open_dataset
from synthmatch.definitions import SynthDefinition
from synthmatch.prepared_target import PreparedTarget, read_prepared_target
from synthmatch.synths import Synth
from synthmatch.training.environment import MatchTask

#: Second seed word of the held-out targets' stream: SeedSequence([seed, HELD_OUT_STREAM]).spawn(N).
HELD_OUT_STREAM = 0x5E1D
#: A data set's recordings whose patch number is a multiple of this are held out from training (the default of
#: ``[pairs] held_out_every``), so that an evaluation can match them as targets no model was trained on.
DATASET_HELD_OUT_EVERY = 10


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


def held_out_rows(index: npt.NDArray[np.integer], every: int = DATASET_HELD_OUT_EVERY) -> npt.NDArray[np.bool_]:
    """Which of a data set's recordings are held out: those whose patch number (``index[N]``) is a multiple of
    ``every``. A function of the patch number alone, so every run holds out the same ones, whatever its seed."""
    held: npt.NDArray[np.bool_] = np.asarray(index) % every == 0
    return held


def open_recordings(folder: str | Path, definition: SynthDefinition) -> Dataset:
    """The data set in ``folder`` of ``definition``, its takes as long and at the rate the definition plays now.

    A DatasetError when it was made with another definition (naming both) or played at another rate or length.
    """
    dataset = open_dataset(folder, definition)
    manifest, note = dataset.manifest, definition.note
    if manifest.sample_rate != note.sample_rate or manifest.samples != note.render_samples:
        raise DatasetError(
            f"{folder}: recorded at {manifest.sample_rate} Hz, {manifest.render_seconds} s per take, but "
            f"{definition.name} plays {note.render_seconds} s at {note.sample_rate} Hz; make the data set again"
        )
    return dataset


def dataset_targets(synth: Synth, folder: Path, every: int = DATASET_HELD_OUT_EVERY) -> list[Target]:
    """The held-out recordings of the data set in ``folder`` (see :func:`held_out_rows`) as targets, patch known."""
    params, notes, audio, index = open_recordings(folder, synth.definition).load_all()
    held = np.flatnonzero(held_out_rows(index, every))
    if not held.size:
        raise DatasetError(f"--dataset {folder}: none of its {len(index)} recording(s) is held out (patch numbers "
                           f"that are multiples of {every}); make a bigger data set")
    return [Target(f"patch-{index[k]:06d}", audio[k], int(notes[k]), params[k].astype(np.float64)) for k in held]
