"""A synth played live: send the patch over MIDI/OSC, play the note, record it from an audio input.

It answers the same :class:`~synthmatch.synths.Synth` interface as the in-process backends, one patch at a time
and in real time (a render takes the definition's ``render_seconds`` and a little more).
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from synthmatch.daemon.audio_in import CAPTURE_MARGIN_S, AudioInput
from synthmatch.daemon.parameter_sender import ParameterSender
from synthmatch.definitions import SynthDefinition
from synthmatch.synths import DefinitionSynth, MidiValues, check_notes, check_params

#: Seconds between sending a patch and playing the note, for the synth to take the new values.
SETTLE_S = 0.03


class ExternalSynth(DefinitionSynth):
    """A synth outside this process, reached through ``sender`` and heard through ``audio_input``."""

    def __init__(self, definition: SynthDefinition, sender: ParameterSender, audio_input: AudioInput) -> None:
        if audio_input.sample_rate != definition.note.sample_rate:
            raise ValueError(f"the audio input resamples to {audio_input.sample_rate} Hz, {definition.name} "
                             f"renders at {definition.note.sample_rate} Hz; open it with the definition's rate")
        self.definition = definition
        self.sender = sender
        self.audio_input = audio_input
        self._synced = False


    def render(
        self, params: npt.NDArray[np.floating], note: MidiValues | None = None, velocity: MidiValues | None = None
    ) -> npt.NDArray[np.float32]:
        """Play the patch ``params[1, P]`` live and record it -> ``audio[1, N]`` from the note's onset.

        Sends the changed parameters (all of them the first time), waits :data:`SETTLE_S`, holds the note for
        ``note_seconds`` and records ``render_seconds``. One row only: a live synth plays one patch at a time.
        """
        x = check_params(self.definition, params)
        if len(x) != 1:
            raise ValueError(f"{self.definition.name} is played live and renders one patch at a time; got a batch "
                             f"of {len(x)}: call render once per row")
        notes, velocities = check_notes(self.definition, note, velocity, 1)
        settings = self.definition.note
        (self.sender.send if self._synced else self.sender.send_all)(x[0])
        self._synced = True
        time.sleep(SETTLE_S)
        capture_s = settings.render_seconds + self.audio_input.latency_s + CAPTURE_MARGIN_S
        self.audio_input.begin()
        began = time.monotonic()
        self.sender.play_note(int(notes[0]), int(velocities[0]))
        try:
            time.sleep(max(0.0, began + settings.note_seconds - time.monotonic()))
        finally:
            self.sender.stop_note(int(notes[0]))
        raw = self.audio_input.end(capture_s)
        return self.audio_input.finish(raw, settings.render_seconds)[None]
