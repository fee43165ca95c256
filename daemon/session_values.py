"""What the match session reports and holds, as plain values: its state, the target, a match's outcome, a snapshot.

Value types only, so that the OSC commands, the live view and the session share them without importing the
session's worker machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from synthmatch.agent import Mel
from synthmatch.matching import MatchProgress, Phase
from synthmatch.prepared_target import PreparedTarget

Params = npt.NDArray[np.float64]
Recorder = Callable[[float], npt.NDArray[np.float32]]
"""Records ``seconds`` of the live input: -> float32 mono audio [N] at the synth's sample rate."""

#: Steps of a match when the start command names none.
DEFAULT_STEPS = 32
#: Most steps one match may take.
MAX_STEPS = 4096


class SessionState(StrEnum):
    """What the session is doing; the first word of a status reply."""

    IDLE = "idle"
    LOADING = "loading"
    RECORDING = "recording"
    MATCHING = "matching"
    STOPPING = "stopping"


class SessionError(RuntimeError):
    """A command that does not fit the session's state (busy, no target, nothing to undo); says what to do."""


@dataclass(frozen=True)
class Target:
    """The sound to match, prepared as ``synthmatch match`` prepares it, and where it came from."""

    prepared: PreparedTarget
    """Its audio at the synth's rate and render length from its onset, its note, and how long the note is held."""
    source: str
    """The file path as given, or "recorded"."""
    seconds: float
    """Length of the file or of the recording, in seconds."""

    @property
    def audio(self) -> npt.NDArray[np.float32]:
        """float32 [N], N the synth's render length, aligned to its onset."""
        return self.prepared.audio

    @property
    def note(self) -> int:
        """MIDI note the synth plays to match it."""
        return self.prepared.note

    @property
    def note_seconds(self) -> float:
        """How long the synth holds its note to match it, in seconds."""
        return self.prepared.note_seconds


@dataclass(frozen=True)
class MatchOutcome:
    """How a match ended, for the done (or error) reply."""

    steps: int
    """Steps taken."""
    distance_start: float
    """Distance of the start patch, nepers (NaN if the match failed before measuring it)."""
    best_distance: float
    """Distance of the best patch, now the current one, nepers (NaN if none was measured)."""
    stopped: bool
    """Whether a stop command ended it early."""
    error: Exception | None
    """What made it fail, None if it did not."""
    note_seconds: float
    """How long the synth held its note, seconds (the target's note length)."""
    gain_db: float
    """Gain to apply after the synth to reach the target's loudness, dB (NaN if it was not measured)."""


@dataclass(frozen=True)
class SessionSnapshot:
    """A consistent copy of the session's state, safe to read from any thread (status replies, a live view)."""

    state: SessionState
    step: int
    """Steps taken by the running or last match."""
    max_steps: int
    """Steps the running or last match was asked for (0 before the first)."""
    distance: float
    """Distance of the latest step, nepers; NaN before the first step."""
    best_distance: float
    """Smallest distance of the running or last match, nepers; NaN before the first step."""
    distance_start: float
    """Distance of the start patch of the running or last match, nepers; NaN before its first step."""
    current_params: Params
    """The patch the synth is set to [P], normalised."""
    best_params: Params | None
    """The best patch of the running or last match [P], normalised; None before the first match."""
    history: tuple[float, ...]
    """Distance after each step of the running or last match."""
    best_history: tuple[float, ...]
    """Best distance so far (the start's included) after each step of the running or last match."""
    phase: Phase | None
    """Who chose the latest step's patch (bank, agent, relay, polish or search: MatchProgress.phase); None before."""
    target: str | None
    """Where the target came from (a path or "recorded"); None before one is loaded."""
    note: int | None
    """The target's MIDI note; None before one is loaded."""
    note_seconds: float
    """How long the synth holds its note: the target's note length (the definition's before a target)."""
    gain_db: float
    """Gain to apply after the synth for the last match's best patch, dB; NaN until a match has measured it."""
    target_mel: Mel | None
    """The target as the agent hears it, log-mel dB [n_mels, frames]; None before one is loaded."""
    sound_mel: Mel | None
    """The synth's latest sound in a match as the agent hears it, log-mel dB [n_mels, frames]; None before."""
    target_audio: npt.NDArray[np.float32] | None
    """The target's audio [N] at the synth's rate, as matched (never changed in place); None before one is loaded."""


ProgressSink = Callable[[MatchProgress], None]
DoneSink = Callable[[MatchOutcome], None]
TargetSink = Callable[[Target], None]
ErrorSink = Callable[[Exception], None]
