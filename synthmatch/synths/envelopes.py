"""ADSR envelopes as closed-form curves on a time grid, for a whole batch at once (no per-sample recursion).

Attack rises linearly from 0 to 1; decay falls exponentially towards the sustain level; after note-off the
level falls exponentially from wherever it was. ``decay_s`` and ``release_s`` are the times to fall by
60 dB of the distance still to go (like a reverb's T60), so a release of 0.3 s is silent 0.3 s after note-off.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: ln(1000): exp(-T60_RATE * t / t60) is -60 dB at t = t60.
T60_RATE = float(np.log(1000.0))


def adsr(
    times_s: npt.ArrayLike,
    attack_s: npt.ArrayLike,
    decay_s: npt.ArrayLike,
    sustain: npt.ArrayLike,
    release_s: npt.ArrayLike,
    note_off_s: float,
) -> npt.NDArray[np.float32]:
    """Envelope level in [0, 1]: ascending times_s[T], per-row attack_s, decay_s, sustain, release_s [B] -> [B, T].

    The note starts at t = 0 and is released at ``note_off_s``; a note released during its attack or decay
    releases from the level it had reached.
    """
    times = np.asarray(times_s, dtype=np.float32)
    attack, decay, level, release = (np.asarray(a, dtype=np.float32)[:, None]
                                     for a in (attack_s, decay_s, sustain, release_s))
    held = int(np.searchsorted(times, note_off_s))
    envelope = np.empty((len(attack), len(times)), dtype=np.float32)
    envelope[:, :held] = _held_level(times[:held], attack, decay, level)
    off_level = _held_level(np.float32(note_off_s), attack, decay, level)
    since_off = times[held:] - np.float32(note_off_s)
    envelope[:, held:] = off_level * np.exp(since_off * (-T60_RATE / release))
    return envelope


def _held_level(
    times_s: npt.NDArray[np.float32] | np.float32,
    attack_s: npt.NDArray[np.float32],
    decay_s: npt.NDArray[np.float32],
    sustain: npt.NDArray[np.float32],
) -> npt.NDArray[np.float32]:
    """Level while the key is held: the lower of the attack ramp and the decay curve (1 until the peak)."""
    since_peak = np.maximum(times_s - attack_s, 0)
    decaying = sustain + (1 - sustain) * np.exp(since_peak * (-T60_RATE / decay_s))
    return np.minimum(times_s / attack_s, decaying)
