"""What the match session needs from the live rig, one level below both: where patches go and the longest recording."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

#: Longest recording the rig takes and the session asks for, in seconds.
MAX_RECORD_S = 30.0


class ParameterSink(Protocol):
    """Somewhere accepted patches go: MIDI CC / NRPN, OSC. Sends only what changed since the last call."""

    def send(self, params: npt.NDArray[np.float64]) -> int:
        """Send the normalised patch ``params[P]``; returns how many messages went out."""
        ...

    def close(self) -> None:
        """Release the ports; later sends raise."""
        ...
