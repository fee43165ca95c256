"""The episodes of the matching task in flight: what one is about, and the state of a batch of them.

:class:`synthmatch.training.environment.MatchTask` draws and advances them; the single environment plays a batch
of one, the vector environment a batch of ``num_envs``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from synthmatch.match_rules import BestSoFar

Observation: TypeAlias = dict[str, npt.NDArray[np.float32]]
Params: TypeAlias = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Episode:
    """What one episode is about: the note played, the start patch and the target (a patch or a recording)."""

    note: int
    start_params: Params
    """Start patch [P], normalised and quantised."""
    target_params: Params | None
    """Target patch [P], normalised and quantised; None when the target is a recording."""
    target_audio: npt.NDArray[np.float32] | None = None
    """Target recording [N] at the synth's sample rate, or None when the target is rendered from target_params."""
    random_target: bool = False
    """Whether target_params was drawn at random, so that :meth:`MatchTask.begin` may draw it again."""
    random_start: bool = False
    """Whether start_params was drawn at random, so that :meth:`MatchTask.begin` may draw it again."""


@dataclass
class EpisodeBatch:
    """The state of B episodes in flight: notes, patches, the targets' features and the distances so far."""

    notes: npt.NDArray[np.int64]
    """MIDI note of each episode [B]."""
    params: Params
    """Current patch [B, P], normalised and quantised."""
    target_params: Params
    """Target patch [B, P]; rows of NaN where the target is a recording."""
    target_mel_db: npt.NDArray[np.float32]
    """Log-mel of each target [B, n_mels, frames] in dB."""
    target_spectra: tuple[npt.NDArray[np.floating], ...]
    """Each target's log spectra (see :func:`synthmatch.distances.log_spectra`), every array [B, ...]."""
    current_mel_db: npt.NDArray[np.float32]
    """Log-mel of each current sound [B, n_mels, frames] in dB."""
    distance: npt.NDArray[np.float64]
    """Primary distance between current and target sound [B]."""
    best: BestSoFar
    """The best patch of each episode so far [B, P] and its distance [B], the start's included."""
    is_success: npt.NDArray[np.bool_]
    """Whether the distance is below the success threshold [B]."""

    def put(self, rows: npt.NDArray[np.intp], other: EpisodeBatch) -> None:
        """Overwrite the episodes at ``rows`` with ``other``'s, in order (the autoreset of finished episodes)."""
        for field in fields(self):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if isinstance(mine, tuple):  # the target spectra: one array per resolution
                for array, replacement in zip(mine, theirs, strict=True):
                    array[rows] = replacement
            elif isinstance(mine, BestSoFar):  # immutable: a new one with the rows replaced
                params, distance = mine.params.copy(), mine.distance.copy()
                params[rows], distance[rows] = theirs.params, theirs.distance
                self.best = BestSoFar(params, distance)
            else:
                mine[rows] = theirs

    def observations(self) -> Observation:
        """Fresh arrays of the batched observation: target and current [B, n_mels, frames], params [B, P]."""
        return {
            "target": self.target_mel_db.copy(),
            "current": self.current_mel_db.copy(),
            "params": self.params.astype(np.float32),
        }

    def infos(self) -> dict[str, Any]:
        """Fresh arrays of the batched info; ``_target_params`` marks the rows whose target patch is known."""
        known = ~np.isnan(self.target_params[:, 0])
        return {
            "distance": self.distance.copy(),
            "best_distance": self.best.distance.copy(),
            "is_success": self.is_success.copy(),
            "target_params": self.target_params.copy(),
            "_target_params": known,
            "note": self.notes.copy(),
        }
