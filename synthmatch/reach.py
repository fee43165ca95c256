"""How close a match came, in one plain word: exact, close, near or far, from the primary distance.

The thresholds are defined here once and documented in docs/metrics.md ("Reach"); ``match``, the daemon's
``done`` reply and the live view all say the same word, so a far match is never passed off as a match.
"""

from __future__ import annotations

REACH_THRESHOLDS: tuple[tuple[str, float], ...] = (("exact", 0.1), ("close", 0.3), ("near", 0.7))
"""(word, upper bound of the primary distance in nepers, exclusive), in order; at or above the last: "far"."""
SUCCESS_DISTANCE = 0.16
"""A match counts as found below this primary distance, in nepers: the training environment's success and the
evaluation's (calibrated as a patch within 0.02 per parameter; docs/training.md); the live view draws it."""
FAR = "far"
"""The word for a match at or above every threshold: the synth did not reach the target."""
REACH_SENTENCES: dict[str, str] = {
    "exact": "exact: the match is hard to tell from the target",
    "close": "close: the match sounds like the target, with small differences",
    "near": "near: the match is the same kind of sound, but clearly different",
    FAR: "far: out of reach; this synth found nothing close to the target, the patch is only the least far",
}
"""The word in a plain sentence, for people (``match``'s text output, the live view)."""


def reach_word(distance: float) -> str:
    """The word for a primary ``distance`` (mrstft, nepers): "exact", "close", "near" or "far"."""
    return next((word for word, bound in REACH_THRESHOLDS if distance < bound), FAR)


def reach_sentence(distance: float) -> str:
    """The word for ``distance`` and what it means, in one line."""
    return REACH_SENTENCES[reach_word(distance)]
