"""Send patches to a synth over MIDI and OSC: each parameter quantised to its transport, only what changed.

Each parameter takes one route, never two (a definition's MIDI controller and OSC address may both move the same
value, e.g. ZynAddSubFX's CC 74 scales the cutoff that OSC sets): MIDI when it has a controller and a MIDI output
is open, else OSC when it has an address and an OSC output is open, else it is not sent (see :attr:`unrouted`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from synthmatch.daemon.osc_out import OscOutput, note_messages
from synthmatch.daemon.transport_errors import TransportError
from synthmatch.definitions import Parameter, SynthDefinition
from synthmatch.midi_messages import control_messages, note_channel, note_off, note_on
from synthmatch.params import to_midi, to_osc

if TYPE_CHECKING:  # rtmidi loads ALSA's library: imported where a MIDI port is opened (synthmatch.daemon.live_rig)
    from synthmatch.daemon.midi_out import MidiOutput

Sent = int | float
"""What a receiver last got for a parameter: the MIDI integer or the OSC value."""


class ParameterSender:
    """A :class:`~synthmatch.daemon.rig_contract.ParameterSink` over MIDI and/or OSC that also plays notes."""

    def __init__(self, definition: SynthDefinition, midi: MidiOutput | None, osc: OscOutput | None) -> None:
        self.definition = definition
        self.midi, self.osc = midi, osc
        self.routes: tuple[str | None, ...] = tuple(_route(p, midi, osc) for p in definition.parameters)
        """Per parameter: "midi", "osc" or None (not sent)."""
        self._last: list[Sent | None] = [None] * len(definition.parameters)
        self._channel = note_channel(definition)

    @property
    def unrouted(self) -> tuple[str, ...]:
        """Names of the parameters that no open output can reach."""
        return tuple(p.name for p, r in zip(self.definition.parameters, self.routes, strict=True) if r is None)

    def send(self, params: npt.NDArray[np.float64]) -> int:
        """Send the normalised patch ``params[P]``, only the parameters whose sent value changed; returns messages."""
        return self._send(params, force=False)

    def send_all(self, params: npt.NDArray[np.float64]) -> int:
        """Send every routed parameter of ``params[P]``, changed or not (the synth's state is unknown)."""
        return self._send(params, force=True)

    def _send(self, params: npt.NDArray[np.float64], force: bool) -> int:
        values = np.asarray(params, dtype=np.float64).reshape(-1)
        if values.shape != (len(self.routes),):
            raise ValueError(f"{self.definition.name} takes {len(self.routes)} parameters, got {values.shape}")
        midi: list[list[int]] = []
        osc: list[tuple[str, Sent]] = []
        for i, (param, route) in enumerate(zip(self.definition.parameters, self.routes, strict=True)):
            value = _encode(param, route, values[i])
            if value is None or (value == self._last[i] and not force):
                continue
            if route == "midi":
                assert param.midi is not None
                midi += control_messages(param.midi, int(value))
            else:
                assert param.osc is not None
                osc.append((param.osc.address, value))
            self._last[i] = value
        try:
            if midi and self.midi is not None:
                self.midi.send(midi)
            for address, value in osc:
                if self.osc is not None:
                    self.osc.send(address, value)
        except TransportError:
            self._last = [None] * len(self._last)  # unknown what arrived: send everything after a reconnect
            raise
        return len(midi) + len(osc)

    def play_note(self, note: int, velocity: int) -> None:
        """Note on over OSC when the definition has ``[note_osc]`` and OSC is open, else over MIDI."""
        osc = note_messages(self.definition, note, velocity) if self.osc is not None else None
        if osc is not None and self.osc is not None:
            self.osc.send(*osc[0])
        else:
            self._note_midi().send([note_on(self._channel, note, velocity)])

    def stop_note(self, note: int) -> None:
        """Note off, on the route :meth:`play_note` took."""
        osc = note_messages(self.definition, note, 0) if self.osc is not None else None
        if osc is not None and self.osc is not None:
            self.osc.send(*osc[1])
        else:
            self._note_midi().send([note_off(self._channel, note)])

    def _note_midi(self) -> MidiOutput:
        if self.midi is None:
            raise TransportError(
                f"no route to play notes on {self.definition.name}: open a MIDI output (a MIDI port) or give the "
                "definition a [note_osc] table and an OSC target"
            )
        return self.midi

    def close(self) -> None:
        """Close the MIDI and OSC outputs; later sends raise TransportError."""
        for output in (self.midi, self.osc):
            if output is not None:
                output.close()


def _route(param: Parameter, midi: MidiOutput | None, osc: OscOutput | None) -> str | None:
    if param.midi is not None and midi is not None:
        return "midi"
    if param.osc is not None and osc is not None:
        return "osc"
    return None


def _encode(param: Parameter, route: str | None, x: float) -> Sent | None:
    """The value that ``route`` carries for normalised ``x``: the MIDI integer, the OSC int or float; None: no route."""
    if route == "midi":
        return int(to_midi(param, x))
    if route == "osc":
        assert param.osc is not None
        value = float(to_osc(param, x))
        return int(value) if param.osc.type == "i" else value
    return None
