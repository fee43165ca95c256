"""Pairs of recorded patches as imitation states: the target is one recording, the current state another.

A data set (:mod:`synthmatch.datasets`) holds patches with their sound but no episodes. Any two recordings A and
B at the same note still make a state the matcher can be in: the target is A's sound, the current sound and
patch are B's, and the oracle step is the one imitation learns everywhere,
``clip((A's params - B's params) / max_step, -1, 1)`` (:func:`~synthmatch.training.imitation.oracle_actions`).
So k recordings at a note give k^2 states, and a data set of N recordings at M notes about N^2 / M, from N
renders or recordings. Pairs are drawn per minibatch, never materialised.

Only pairs at the same note: a match always renders its patches at the target's note, so a current sound at
another pitch is a state no match is ever in. Every recording's observer input (:func:`~synthmatch.features.
observe_mel`, at equal loudness) is computed once, up front, and kept as float16.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from synthmatch.features import FeatureSettings, observe_mel
from synthmatch.training.imitation import Batch, NoteGroups, oracle_actions

#: Recordings whose features are computed in one batch (bounds the STFT's memory: about 40 MB at 1 s, 16 kHz).
FEATURE_CHUNK = 128


def recording_mels(
    audio: npt.NDArray[np.float32], features: FeatureSettings, on_chunk: Callable[[int], object] | None = None
) -> npt.NDArray[np.float16]:
    """The observer's input of each recording: audio[N, samples] -> float16 [N, n_mels, frames], in chunks.

    ``on_chunk`` is called with the number of recordings done after each chunk (for a progress bar).
    """
    mels = np.empty((len(audio), features.n_mels, features.frames(audio.shape[1])), np.float16)
    for start in range(0, len(audio), FEATURE_CHUNK):
        rows = slice(start, start + FEATURE_CHUNK)
        mels[rows] = observe_mel(audio[rows], features)
        if on_chunk is not None:
            on_chunk(len(mels[rows]))
    return mels


@dataclass(frozen=True)
class RecordedPairs:
    """Recordings (features, patches, notes) from which same-note pairs are drawn as labelled states."""

    mels: npt.NDArray[np.float16]
    """The observer's input of each recording, [N, n_mels, frames]."""
    params: npt.NDArray[np.float32]
    """Each recording's patch [N, P], normalised."""
    notes: npt.NDArray[np.int64]
    """Each recording's MIDI note [N]."""
    max_step: float
    """The step rule's largest move (an action of +-1); the oracle step is scaled by it."""

    def __post_init__(self) -> None:
        if len(self.notes) == 0:
            raise ValueError("no recordings to draw pairs from")

    def __len__(self) -> int:
        """Recordings held."""
        return len(self.notes)

    @property
    def groups(self) -> NoteGroups:
        """The recordings grouped by note."""
        return NoteGroups.of(self.notes)

    def subset(self, rows: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> RecordedPairs:
        """The recordings of ``rows`` only."""
        return RecordedPairs(self.mels[rows], self.params[rows], self.notes[rows], self.max_step)

    def pairs(self, targets: npt.NDArray[np.intp], rng: np.random.Generator,
              groups: NoteGroups | None = None) -> npt.NDArray[np.intp]:
        """For each target recording in ``targets[B]``, a uniform recording at its note as the current state."""
        return (groups or self.groups).draw(self.notes[targets], rng)

    def batch(self, targets: npt.NDArray[np.intp], currents: npt.NDArray[np.intp]) -> Batch:
        """The labelled states of the pairs (``targets[B]``, ``currents[B]``) as float32 tensors."""
        return (
            torch.from_numpy(self.mels[targets].astype(np.float32)),
            torch.from_numpy(self.mels[currents].astype(np.float32)),
            torch.from_numpy(self.params[currents]),
            torch.from_numpy(oracle_actions(self.params[currents], self.params[targets], self.max_step)),
        )


class PairSampler:
    """Uniform minibatches of same-note pairs of :class:`RecordedPairs`: a uniform target, a uniform current."""

    def __init__(self, recordings: RecordedPairs) -> None:
        self.recordings = recordings
        self.groups = recordings.groups

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """A minibatch of ``batch_size`` pairs drawn with ``rng``."""
        targets = rng.integers(0, len(self.recordings), batch_size)
        return self.recordings.batch(targets, self.recordings.pairs(targets, rng, self.groups))


class FixedPairs:
    """A fixed set of pairs of :class:`RecordedPairs` (seeded), to report the action MSE on the same states."""

    def __init__(self, recordings: RecordedPairs, count: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.recordings = recordings
        self.targets = rng.integers(0, len(recordings), count)
        self.currents = recordings.pairs(self.targets, rng)

    def __len__(self) -> int:
        """Pairs held."""
        return len(self.targets)

    def tensors(self, rows: slice) -> Batch:
        """The labelled states of the pairs in ``rows``."""
        return self.recordings.batch(self.targets[rows], self.currents[rows])
