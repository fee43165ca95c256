"""The probe of the probed policy gradient: the one-step reward's gradient in action space, measured on the synth.

Numpy only, because it runs in the environment worker, which never imports torch; the algorithm that learns from
it is :mod:`synthmatch.training.probe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from synthmatch.distances import log_spectra, log_spectra_distance

if TYPE_CHECKING:
    from synthmatch.training.environment import EpisodeBatch, MatchTask


@dataclass(frozen=True)
class ProbeSettings:
    """How the worker probes the synth around each action (plain values: they travel to the worker process)."""

    pairs: int
    """Antithetic pairs of variations per transition (2 * pairs renders)."""
    scale: float
    """Std of the variations, in action units (1 = one max_step)."""


def reward_gradient(
    task: MatchTask, batch: EpisodeBatch, actions: npt.NDArray[np.float64], settings: ProbeSettings,
    rng: np.random.Generator,
) -> npt.NDArray[np.float32]:
    """The probed gradient of the one-step reward with respect to ``actions`` [B, P], at ``batch``'s state [B, P].

    Renders ``2 * settings.pairs`` variations of every row's action in one synth call and leaves ``batch``
    untouched. Variations are clipped to [-1, 1] and quantised like any step, so a direction that the clip or
    the quantiser flattens reads as no change.
    """
    rows, count = actions.shape
    directions = rng.standard_normal((rows, settings.pairs, count))
    varied = np.concatenate([actions[:, None] + settings.scale * directions,
                             actions[:, None] - settings.scale * directions], axis=1)  # [B, 2K, P]
    patches = task.moved(batch.params[:, None], np.clip(varied, -1.0, 1.0)).reshape(-1, count)
    repeat = 2 * settings.pairs
    audio = task.render(patches, np.repeat(batch.notes, repeat))
    targets = tuple(np.repeat(spectra, repeat, axis=0) for spectra in batch.target_spectra)
    distance = log_spectra_distance(targets, log_spectra(audio)).reshape(rows, 2, settings.pairs)
    gained = distance[:, 1] - distance[:, 0]  # d(a - scale e) - d(a + scale e) = r(a + scale e) - r(a - scale e)
    gradient = np.einsum("bk,bkp->bp", gained, directions) / (2.0 * settings.scale * settings.pairs)
    return gradient.astype(np.float32)
