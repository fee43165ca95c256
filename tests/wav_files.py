"""Write test recordings as 16-bit mono WAV, as a user's sample would arrive."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    """``audio`` [N] in [-1, 1] (clipped) as a 16-bit mono WAV file at ``rate`` Hz."""
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
