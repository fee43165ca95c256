"""What an error says about a mistyped name: the close known names ("did you mean"), else every known name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str], *, list_known: bool = True) -> str:
    """``"; did you mean a, b?"`` naming up to three of ``known`` close to ``name``; else ``"; known: ..."`` (all).

    With ``list_known=False`` the answer is "" when none is close, for a message that lists them itself.
    """
    choices = list(known)
    close = difflib.get_close_matches(name, choices, n=3)
    if close:
        return f"; did you mean {', '.join(close)}?"
    return f"; known: {', '.join(choices)}" if list_known else ""
