"""What the daemon plays and listens to: the synth it matches on and the transports that mirror each accepted patch.

"Match inside, show outside": a builtin or VST3 definition is matched on an in-process copy while every accepted
change is also sent over MIDI CC / OSC to the DAW's instance or the hardware; an external definition (or
``render="live"``) is matched by playing the note over MIDI/OSC and recording it with sounddevice, which is
imported only when an input is opened: a daemon that renders in-process runs where PortAudio is not installed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
import numpy.typing as npt

from synthmatch.daemon.osc_out import OscOutput, startup_messages
from synthmatch.daemon.parameter_sender import ParameterSender
from synthmatch.daemon.rig_contract import MAX_RECORD_S, ParameterSink
from synthmatch.daemon.transport_errors import TransportError
from synthmatch.definitions import SynthDefinition
from synthmatch.settings_loader import Check, Range
from synthmatch.synths import Synth, open_synth

if TYPE_CHECKING:
    from synthmatch.daemon.audio_in import AudioInput
    from synthmatch.daemon.midi_out import MidiOutput

log = logging.getLogger(__name__)


RenderMode = Literal["auto", "in-process", "live"]
MidiApi = Literal["auto", "alsa", "jack"]
#: A string that must not be empty.
NON_EMPTY = Check(bool, "a non-empty string")
HOST_PORT = Check(lambda value: _is_host_port(str(value)), "host:port, e.g. 127.0.0.1:9001")


@dataclass(frozen=True)
class LiveOptions:
    """How the daemon reaches the synth; every field has the daemon's default (in-process, nothing sent out)."""

    render: RenderMode = "auto"
    """auto: in-process for builtin/vst3 definitions, live (play + record) for external ones."""
    midi_port: Annotated[str | None, NON_EMPTY] = None
    """MIDI output for parameter changes: a port name (substring match), an index, "virtual" for a new port; None:
    no MIDI."""
    midi_api: MidiApi = "auto"
    """MIDI system: auto tries ALSA, then JACK where ALSA has no sequencer."""
    osc_target: Annotated[str | None, HOST_PORT] = None
    """host:port to send each parameter's OSC address to; None: no OSC out."""
    audio_device: Annotated[str | None, NON_EMPTY] = None
    """Audio input for live synths and target recording (name substring or index); None: the default input."""
    audio_channel: Annotated[int, Range(1, 256)] = 1
    """Input channel to record, 1-based."""


def _is_host_port(value: str) -> bool:
    """Whether ``value`` is ``host:port`` with a port in 1..65535."""
    host, _, port = value.rpartition(":")
    return bool(host) and port.isascii() and port.isdigit() and 1 <= int(port) <= 65535  # "²" is a digit too


@dataclass
class LiveRig:
    """The synth to match on, where accepted patches are also sent, and how to record from the live input."""

    synth: Synth
    sink: ParameterSink | None
    record: Callable[[float], npt.NDArray[np.float32]] | None = None
    """Record N seconds from the live input from the onset: float32 mono at the synth's rate; None: no input."""
    audio_input: LiveInput | None = None
    synth_for: Callable[[SynthDefinition], Synth] = open_synth
    """The same synth for another note length (the definition with its ``note_seconds`` changed)."""
    live: bool = False
    """Whether the synth is played live (one note at a time), not rendered in-process."""

    def close(self) -> None:
        """Close the transports and the audio input."""
        if self.sink is not None:
            self.sink.close()
        if self.audio_input is not None:
            self.audio_input.close()


class LiveInput:
    """The audio input, opened on first use: an in-process daemon needs no sound card until it records a target."""

    def __init__(self, options: LiveOptions, sample_rate: int) -> None:
        self._options, self._sample_rate = options, sample_rate
        self._input: AudioInput | None = None

    def open(self) -> AudioInput:
        """The open input (opened now if it is not yet); AudioDeviceError for a missing device."""
        if self._input is None:
            try:
                from synthmatch.daemon.audio_in import AudioInput  # sounddevice: here, where audio is recorded
            except OSError as err:  # sounddevice finds no PortAudio library
                raise TransportError(f"recording needs the PortAudio library, and {err}: install it "
                                     "(apt-get install libportaudio2) or load targets from files") from None
            self._input = AudioInput(self._options.audio_device, self._options.audio_channel, self._sample_rate)
        return self._input

    def record(self, seconds: float) -> npt.NDArray[np.float32]:
        """``seconds`` of the input from the onset, at the synth's rate."""
        if not 0 < seconds <= MAX_RECORD_S:
            raise ValueError(f"record seconds must be in (0, {MAX_RECORD_S:g}], got {seconds}")
        return self.open().record(seconds)

    def close(self) -> None:
        """Close the input if it was opened."""
        if self._input is not None:
            self._input.close()
            self._input = None


def render_mode(definition: SynthDefinition, options: LiveOptions) -> Literal["in-process", "live"]:
    """Where ``definition`` renders under ``options``: "auto" means live for external synths, else in-process."""
    if options.render == "auto":
        return "live" if definition.kind == "external" else "in-process"
    if options.render not in ("in-process", "live"):
        raise ValueError(f"render {options.render!r} is not one of auto, in-process, live")
    return options.render


def open_live_rig(definition: SynthDefinition, options: LiveOptions) -> LiveRig:
    """Build the rig that ``options`` describe for ``definition``; clear errors for missing ports or devices.

    A live render needs a way to play notes (a MIDI port) and an audio input; it sends to the definition's own
    ``[osc]`` host and port when no OSC target is given, and sends its ``[startup].osc`` messages once.
    """
    mode = render_mode(definition, options)
    synth = open_synth(definition) if mode == "in-process" else None  # fails early for external in-process
    synth_for: Callable[[SynthDefinition], Synth] = open_synth
    osc_target = options.osc_target
    if osc_target is None and mode == "live" and definition.osc_port is not None:
        osc_target = f"{definition.osc_host}:{definition.osc_port}"
    sender = _open_sender(definition, options, osc_target)
    live_input = LiveInput(options, definition.note.sample_rate)
    try:
        if mode == "live":
            if sender is None:
                raise TransportError(f"rendering {definition.name} live needs a MIDI port to play its notes on "
                                     "(midi_port: a name, an index or 'virtual')")
            if sender.unrouted:
                log.warning("%s: no open output reaches %s; the match moves them without effect",
                            definition.name, ", ".join(sender.unrouted))
            audio_input = live_input.open()
            from synthmatch.daemon.external_synth import ExternalSynth  # it records: sounddevice only now
            synth = ExternalSynth(definition, sender, audio_input)
            live_sender = sender

            def synth_for(held: SynthDefinition) -> Synth:
                return ExternalSynth(held, live_sender, audio_input)
    except Exception:
        live_input.close()
        if sender is not None:
            sender.close()
        raise
    assert synth is not None
    return LiveRig(synth=synth, sink=sender, record=live_input.record, audio_input=live_input, synth_for=synth_for,
                   live=mode == "live")


def _open_midi(port: str, api: MidiApi) -> MidiOutput:
    """The MIDI output ``port`` on ``api``; rtmidi is imported only now, so that the commands that send no MIDI
    (training, eval, an in-process daemon) run where ALSA's library is not installed."""
    try:
        from synthmatch.daemon.midi_out import MidiOutput
    except ModuleNotFoundError as err:
        if err.name != "rtmidi":
            raise
        raise TransportError("MIDI out needs python-rtmidi: pip install python-rtmidi, or send parameters over "
                             "OSC") from None
    except ImportError as err:  # rtmidi finds no libasound
        raise TransportError(f"MIDI out needs ALSA's library, and {err}: install it (apt-get install libasound2) "
                             "or send parameters over OSC") from None
    return MidiOutput(port, api)


def _open_sender(definition: SynthDefinition, options: LiveOptions, osc_target: str | None) -> ParameterSender | None:
    """The MIDI and OSC outputs that ``options`` ask for, with the definition's startup messages sent; None: none."""
    midi = _open_midi(options.midi_port, options.midi_api) if options.midi_port is not None else None
    try:
        osc = OscOutput.to(osc_target) if osc_target is not None else None
    except (TransportError, ValueError):
        if midi is not None:
            midi.close()
        raise
    if osc is not None:
        messages = startup_messages(definition)
        for address, args in messages:
            osc.send(address, args)
        if messages:
            time.sleep(STARTUP_SETTLE_S)
    return ParameterSender(definition, midi, osc) if midi is not None or osc is not None else None


#: Seconds to let a synth act on its startup messages (a synth loading a patch file, say) before anything else is sent.
STARTUP_SETTLE_S = 0.5
