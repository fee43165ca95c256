"""Audio in with sounddevice: one input channel, recorded at the device's rate, aligned to the note and resampled.

One InputStream stays open for the input's life (on JACK a new stream would make new ``PortAudio:in_N`` ports
that nobody has connected), and its callback keeps the blocks only while a capture runs. Latency is measured as
the stream's reported input latency and compensated twice over: a capture runs that much longer, and the
recording is trimmed to the note's onset, found by an energy threshold (:func:`onset_index`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
import time
from math import gcd
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import sounddevice as sd
from scipy.signal import resample_poly

from synthmatch.daemon.transport_errors import TransportError

log = logging.getLogger(__name__)

Audio = npt.NDArray[np.float32]

#: Onset: the first frame whose RMS comes within this many dB of the loudest frame's ...
ONSET_THRESHOLD_DB = -40.0
#: ... and is above this absolute RMS (so that a silent recording has no onset).
ONSET_FLOOR_RMS = 1e-4
#: Length of the frames the onset search measures, in seconds.
ONSET_FRAME_S = 0.001
#: Extra seconds a capture runs beyond what is asked, for jitter in the MIDI and audio paths.
CAPTURE_MARGIN_S = 0.05
#: Largest input latency believed, in seconds; JACK clients that leave theirs unset report 2**32 frames (a day).
MAX_LATENCY_S = 1.0


class AudioDeviceError(TransportError):
    """An audio input device is missing, unusable or went away; the message lists the inputs there are."""


def resample(audio: npt.ArrayLike, from_rate: int, to_rate: int) -> Audio:
    """Mono ``audio[N]`` at ``from_rate`` Hz -> float32 at ``to_rate`` Hz (polyphase, anti-aliased)."""
    signal = np.asarray(audio, dtype=np.float32)
    if from_rate == to_rate:
        return signal.copy()
    common = gcd(from_rate, to_rate)
    return resample_poly(signal, to_rate // common, from_rate // common).astype(np.float32)


def onset_index(audio: npt.ArrayLike, sample_rate: int, threshold_db: float = ONSET_THRESHOLD_DB) -> int | None:
    """Sample where the sound in ``audio[N]`` starts: the first frame loud enough (see the constants); None: silent."""
    signal = np.asarray(audio, dtype=np.float64)
    frame = max(1, int(sample_rate * ONSET_FRAME_S))
    frames = len(signal) // frame
    if frames == 0:
        return None
    rms = np.sqrt(np.mean(signal[: frames * frame].reshape(frames, frame) ** 2, axis=1))
    threshold = max(float(rms.max()) * 10 ** (threshold_db / 20), ONSET_FLOOR_RMS)
    loud = np.flatnonzero(rms >= threshold)
    return int(loud[0]) * frame if loud.size else None


def align_to_onset(audio: npt.ArrayLike, sample_rate: int, samples: int, fallback: int = 0) -> Audio:
    """``samples`` samples of ``audio[N]`` from its onset (or from ``fallback`` when silent), zero-padded at the end."""
    signal = np.asarray(audio, dtype=np.float32)
    start = onset_index(signal, sample_rate)
    piece = signal[fallback if start is None else start:][:samples]
    return np.pad(piece, (0, samples - len(piece))).astype(np.float32)


def find_device(device: str | None, channel: int, direction: Literal["input", "output"] = "input") -> int:
    """Index of the ``direction`` device (name substring or index as digits; None: the default) having ``channel``."""
    key = f"max_{direction}_channels"
    devices = [(i, d) for i, d in enumerate(sd.query_devices()) if d[key] > 0]
    listing = "; ".join(f"{i}: {d['name']} ({d[key]} channels)" for i, d in devices) or "none"
    if device is None:
        index = int(sd.default.device[0 if direction == "input" else 1])
        if index < 0:
            raise AudioDeviceError(f"there is no default audio {direction}; choose one of: {listing}")
    elif device.isdigit():
        index = int(device)
    else:
        matches = [i for i, d in devices if device.lower() in d["name"].lower()]
        if len(matches) != 1:
            problem = "no" if not matches else "more than one"
            raise AudioDeviceError(f"{problem} audio {direction} matches {device!r}; the {direction}s are: {listing}")
        index = matches[0]
    found = dict(devices).get(index)
    if found is None:
        raise AudioDeviceError(f"audio device {device!r} is not an {direction}; the {direction}s are: {listing}")
    if not 1 <= channel <= found[key]:
        raise AudioDeviceError(f"{found['name']} has {direction} channels 1..{found[key]}, not {channel}")
    return index


_jack_client_name: ctypes.Array[ctypes.c_char] | None = None  # PortAudio keeps the pointer: keep the buffer alive


def restart_portaudio(jack_client_name: str | None = None) -> None:
    """Re-scan the audio devices (a JACK server started after ``import sounddevice`` appears only after this).

    ``jack_client_name`` names this process's JACK client instead of PortAudio's default "PortAudio", so that its
    ports (``NAME:in_0``, ``NAME:out_0``) can be found and connected. Close every stream first.
    """
    global _jack_client_name
    if jack_client_name is not None:
        _jack_client_name = ctypes.create_string_buffer(jack_client_name.encode())
        with contextlib.suppress(AttributeError, OSError):  # a PortAudio built without JACK: nothing to name
            ctypes.CDLL(sd._libname).PaJack_SetClientName(_jack_client_name)
    sd._terminate()
    sd._initialize()


def plausible_latency(reported_s: float, device: str) -> float:
    """``reported_s`` if it is a latency one can believe, else 0 with a warning: the onset alignment copes alone."""
    if 0.0 <= reported_s <= MAX_LATENCY_S:
        return reported_s
    log.warning("audio input %r reports an input latency of %g s; ignoring it (onset alignment compensates)",
                device, reported_s)
    return 0.0


class AudioInput:
    """One channel of an input device, open until :meth:`close`; captures on demand and resamples to ``sample_rate``."""

    def __init__(self, device: str | None, channel: int, sample_rate: int) -> None:
        index = find_device(device, channel)
        info = sd.query_devices(index)
        self.name = str(info["name"])
        self.channel = channel
        self.sample_rate = sample_rate
        self.device_rate = int(info["default_samplerate"])
        self._lock = threading.Lock()
        self._blocks: list[Audio] | None = None
        self._frames = 0
        try:
            self._stream: sd.InputStream | None = sd.InputStream(
                device=index, channels=channel, samplerate=self.device_rate, dtype="float32", callback=self._callback
            )
            self._stream.start()
        except sd.PortAudioError as err:
            raise AudioDeviceError(f"cannot open audio input {self.name!r}: {err}") from err
        self.latency_s = plausible_latency(float(self._stream.latency), self.name)
        """The input latency PortAudio reports, in seconds (0 when it reports nonsense)."""

    def _callback(self, indata: npt.NDArray[np.float32], frames: int, _time: Any, status: sd.CallbackFlags) -> None:
        with self._lock:
            self._frames += frames
            if self._blocks is not None:
                self._blocks.append(indata[:, self.channel - 1].copy())

    def begin(self) -> None:
        """Start keeping what arrives (what came before is dropped)."""
        self._check()
        with self._lock:
            self._blocks = []

    def end(self, seconds: float) -> Audio:
        """Wait until ``seconds`` have been kept since :meth:`begin`, stop, return them at the device's rate."""
        wanted = int(seconds * self.device_rate)
        deadline = time.monotonic() + seconds + 2.0
        while True:
            with self._lock:
                kept = sum(len(b) for b in self._blocks or [])
            if kept >= wanted:
                break
            if time.monotonic() > deadline:
                raise AudioDeviceError(f"no audio arriving from {self.name!r}: the device stopped or went away")
            self._check()
            time.sleep(0.005)
        with self._lock:
            blocks, self._blocks = self._blocks or [], None
        return np.concatenate(blocks)[:wanted]

    def record(self, seconds: float) -> Audio:
        """Record ``seconds`` from the note's onset (latency compensated), mono float32 at ``sample_rate``."""
        self.begin()
        raw = self.end(seconds + self.latency_s + CAPTURE_MARGIN_S)
        return self.finish(raw, seconds)

    def finish(self, raw: Audio, seconds: float) -> Audio:
        """A capture at the device's rate -> ``seconds`` from its onset (else from the latency), at ``sample_rate``."""
        samples = int(round(seconds * self.device_rate))
        aligned = align_to_onset(raw, self.device_rate, samples, fallback=int(self.latency_s * self.device_rate))
        out = resample(aligned, self.device_rate, self.sample_rate)
        target = int(round(seconds * self.sample_rate))
        return np.pad(out[:target], (0, max(0, target - len(out)))).astype(np.float32)

    def _check(self) -> None:
        if self._stream is None:
            raise AudioDeviceError(f"audio input {self.name!r} is closed")
        if not self._stream.active:
            raise AudioDeviceError(f"audio input {self.name!r} stopped: the device went away; reconnect it")

    def close(self) -> None:
        """Stop and close the stream."""
        if self._stream is not None:
            stream, self._stream = self._stream, None
            with contextlib.suppress(sd.PortAudioError):  # a device that went away cannot close cleanly
                stream.close()
