"""`synthmatch synth`: the built-in synth as a real-time instrument that follows MIDI notes and its controllers.

A MIDI input port (rtmidi, ALSA or JACK) receives note on/off and the definition's controllers (7-bit CC, 14-bit
CC pairs, NRPN); :class:`ControlDecoder` turns them into normalised parameter changes. The synth renders whole
notes (a few ms each), so on a note-on or a parameter change the held note is rendered again with the current
parameters, resampled to the output stream's rate, and playback goes on from the same position. A note-off renders
it again with the release starting at the note-off. One voice: the last note played sounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import queue
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import numpy as np
import numpy.typing as npt
import rtmidi
import sounddevice as sd

from synthmatch.daemon.audio_in import find_device, resample, restart_portaudio
from synthmatch.daemon.midi_out import open_client
from synthmatch.definitions import SynthDefinition, find_definition
from synthmatch.midi_messages import DATA_LSB, DATA_MSB, NRPN_LSB, NRPN_MSB, note_channel, nrpn_is_7bit
from synthmatch.params import from_midi
from synthmatch.synths.builtin import BuiltinSynth

#: Longest a note is held before its release starts by itself, in seconds.
MAX_HOLD_S = 4.0
#: Room after the hold for the longest release, in seconds.
TAIL_S = 4.0


@dataclass(frozen=True)
class NoteOn:
    """Start ``note`` at ``velocity``."""

    note: int
    velocity: int


@dataclass(frozen=True)
class NoteOff:
    """Release ``note``."""

    note: int


@dataclass(frozen=True)
class ParameterChange:
    """Set parameter number ``index`` to the normalised ``value``."""

    index: int
    value: float


Event = NoteOn | NoteOff | ParameterChange


class ControlDecoder:
    """MIDI messages -> :data:`Event` s for one definition; remembers 14-bit MSBs and the selected NRPN per channel.

    A 14-bit pair or an NRPN value takes effect on its MSB (LSB 0) and again, exactly, on its LSB.
    """

    def __init__(self, definition: SynthDefinition) -> None:
        self.definition = definition
        self.channel = note_channel(definition)
        self._cc: dict[tuple[int, int], tuple[int, str]] = {}
        self._nrpn: dict[tuple[int, int], int] = {}
        for i, p in enumerate(definition.parameters):
            if p.midi is None:
                continue
            channel = p.midi.channel - 1
            if p.midi.nrpn is not None:
                self._nrpn[(channel, p.midi.nrpn)] = i
            elif p.midi.cc is not None:
                self._cc[(channel, p.midi.cc)] = (i, "msb" if p.midi.cc_lsb is not None else "cc7")
                if p.midi.cc_lsb is not None:
                    self._cc[(channel, p.midi.cc_lsb)] = (i, "lsb")
        self._msb: dict[int, int] = {}
        self._selected: dict[int, list[int]] = {}
        self._data_msb: dict[int, int] = {}

    def decode(self, message: Sequence[int]) -> list[Event]:
        """The events one message (status byte and data bytes) means; [] for anything else."""
        if len(message) != 3:
            return []
        status, channel, a, b = message[0] & 0xF0, message[0] & 0x0F, message[1], message[2]
        if status in (0x80, 0x90) and channel == self.channel - 1:
            return [NoteOn(a, b)] if status == 0x90 and b > 0 else [NoteOff(a)]
        if status != 0xB0:
            return []
        if a in (NRPN_MSB, NRPN_LSB, DATA_MSB, DATA_LSB) and (channel, a) not in self._cc:
            return self._decode_nrpn(channel, a, b)
        index, role = self._cc.get((channel, a), (-1, ""))
        if role == "cc7":
            return self._change(index, b)
        if role == "msb":
            self._msb[index] = b
            return self._change(index, b << 7)
        if role == "lsb":
            return self._change(index, (self._msb.get(index, 0) << 7) | b)
        return []

    def _decode_nrpn(self, channel: int, controller: int, value: int) -> list[Event]:
        number = self._selected.setdefault(channel, [0, 0])
        if controller in (NRPN_MSB, NRPN_LSB):
            number[0 if controller == NRPN_MSB else 1] = value
            return []
        index = self._nrpn.get((channel, (number[0] << 7) | number[1]))
        if index is None:
            return []
        midi = self.definition.parameters[index].midi
        assert midi is not None
        if controller == DATA_MSB:
            self._data_msb[channel] = value
            return self._change(index, value if nrpn_is_7bit(midi) else value << 7)
        return self._change(index, (self._data_msb.get(channel, 0) << 7) | value)

    def _change(self, index: int, value: int) -> list[Event]:
        return [ParameterChange(index, float(from_midi(self.definition.parameters[index], value)))]


class Voice:
    """The note that sounds: rendered whole at the synth's rate, resampled to the stream's, played from a position.

    :meth:`fill` is the output stream's callback; the other methods run on the main thread.
    """

    def __init__(self, definition: SynthDefinition, stream_rate: int) -> None:
        self._base = definition
        note = dataclasses.replace(definition.note, note_seconds=MAX_HOLD_S, render_seconds=MAX_HOLD_S + TAIL_S)
        self._synth = BuiltinSynth(dataclasses.replace(definition, note=note))
        self.stream_rate = stream_rate
        self.params = np.asarray(definition.defaults_normalised(), dtype=np.float64)
        self.note: int | None = None
        self._velocity = 0
        self._hold_s = MAX_HOLD_S
        self._started = 0.0
        self._lock = threading.Lock()
        self._buffer: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self._position = 0

    def apply(self, events: Sequence[tuple[Event, float]]) -> None:
        """Apply ``events`` (each with the monotonic time it arrived) and render the note once if it changed."""
        restart = changed = False
        for event, received in events:
            if isinstance(event, ParameterChange):
                self.params[event.index] = event.value
                changed = True
            elif isinstance(event, NoteOn):
                self.note, self._velocity, self._started = event.note, event.velocity, received
                self._hold_s = MAX_HOLD_S
                restart = changed = True
            elif event.note == self.note and self._hold_s == MAX_HOLD_S:
                self._hold_s = min(MAX_HOLD_S, max(0.0, received - self._started))
                changed = True
        if changed and self.note is not None:
            self._render(restart)

    def _render(self, restart: bool) -> None:
        assert self.note is not None
        # The hold is read from the definition at render time; swapping it keeps the constructed synth.
        self._synth.definition = dataclasses.replace(
            self._synth.definition, note=dataclasses.replace(self._synth.definition.note, note_seconds=self._hold_s)
        )
        audio = self._synth.render(self.params[None], self.note, self._velocity)[0]
        played = resample(audio, self._synth.sample_rate, self.stream_rate)
        with self._lock:
            self._buffer = played
            if restart:
                self._position = 0

    def fill(self, outdata: npt.NDArray[np.float32], frames: int, _time: Any, _status: sd.CallbackFlags) -> None:
        """Output stream callback: the next ``frames`` samples of the note, silence after its end."""
        with self._lock:
            chunk = self._buffer[self._position:self._position + frames]
            self._position += frames
        outdata[: len(chunk), 0] = chunk
        outdata[len(chunk):, 0] = 0.0


def run_live_instrument(args: argparse.Namespace) -> int:
    """Play ``args.synth`` (a builtin definition) live until SIGINT or SIGTERM; prints the ports it made."""
    definition = find_definition(args.synth)
    if definition.kind != "builtin":
        raise ValueError(f"synthmatch synth plays builtin definitions; {definition.name} is {definition.kind}")
    audio_client = f"{args.name}-audio"  # a JACK client of its own: two clients of one name get renamed "-01"
    restart_portaudio(audio_client)
    events: queue.Queue[tuple[list[int], float]] = queue.Queue()
    midi_in, api = open_client(rtmidi.MidiIn, args.midi_api, args.name)
    stream: sd.OutputStream | None = None
    try:
        midi_in.open_virtual_port("in")
        midi_in.set_callback(lambda event, _data: events.put((event[0], time.monotonic())))
        device = find_device(args.audio_device, 1, "output")
        rate = int(sd.query_devices(device)["default_samplerate"])
        voice = Voice(definition, rate)
        stream = sd.OutputStream(device=device, channels=1, samplerate=rate, dtype="float32", callback=voice.fill)
        stream.start()
        host = sd.query_hostapis(int(sd.query_devices(device)["hostapi"]))["name"]
        audio = f"{audio_client}:out_0" if "JACK" in str(host) else str(sd.query_devices(device)["name"])
        print(f"synthmatch synth: {definition.name}, MIDI in {args.name}:in ({api}), channel {note_channel(definition)}"
              f", audio out {audio} at {rate} Hz; ready", flush=True)
        _play_until_stopped(ControlDecoder(definition), voice, events)
    finally:
        if stream is not None:
            stream.close()
        midi_in.close_port()
        midi_in.delete()
        sd._terminate()
    return 0


def _play_until_stopped(decoder: ControlDecoder, voice: Voice, events: queue.Queue[tuple[list[int], float]]) -> None:
    """Apply incoming MIDI in batches (one render per batch) until SIGINT or SIGTERM."""
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.is_set():
            try:
                batch = [events.get(timeout=0.1)]
            except queue.Empty:
                continue
            while not events.empty():
                batch.append(events.get_nowait())
            voice.apply([(event, received) for message, received in batch for event in decoder.decode(message)])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
