"""What an error says about a mistyped name: the close known names ("did you mean"), else every known name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean a, b?"`` naming up to three of ``known`` close to ``name``, else ``"; known: ..."`` (all)."""
    choices = list(known)
    close = difflib.get_close_matches(name, choices, n=3)
    return f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(choices)}"
