"""Target sounds from audio files: read, check, mix to mono, resample, align to the onset, fit the length.

A target arrives as a file (WAV, FLAC, MP3, OGG, AIFF) in whatever format the user had; the agent needs
``float32[samples]`` at the synth's sample rate, starting where the sound starts, like a rendered note does.
This module is the boundary: every problem with the file becomes one :class:`TargetAudioError` naming the file,
what is wrong and what to do. The header is checked before any audio is read (size, length, sample rate,
channels, and for uncompressed files whether the file holds all the audio it promises), and only the first few
seconds are decoded, so a long, huge or lying file costs next to nothing.
"""

from __future__ import annotations

import io
import math
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pedalboard.io import AudioFile, ReadableAudioFile, get_supported_read_formats

#: Longest file accepted by default, in seconds (only its start is used).
MAX_SECONDS = 300.0
#: Shortest file accepted, in seconds.
MIN_SECONDS = 0.01
#: Largest file accepted by default, in bytes.
MAX_BYTES = 256 * 1024 * 1024
#: Sample rates accepted, in Hz; a header outside them is broken or hostile.
MIN_SAMPLE_RATE_HZ, MAX_SAMPLE_RATE_HZ = 1000.0, 384000.0
#: Most channels accepted (7.1 surround).
MAX_CHANNELS = 8
#: Frames decoded per call, at the synth's rate; a load in a worker thread pauses the daemon's others this long.
READ_CHUNK_FRAMES = 4096
#: Bytes per sample of the uncompressed sample formats, by pedalboard's ``file_dtype``.
PCM_BYTES = {"int8": 1, "uint8": 1, "int16": 2, "int24": 3, "int32": 4, "float32": 4, "float64": 8}
#: How far into the file the sound may start, in seconds; only this plus the target length is decoded.
MAX_LEAD_S = 5.0
#: The onset is the first sample within this many dB of the peak.
ONSET_THRESHOLD_DB = -30.0
#: How much of the audio before the onset is kept, in seconds.
PRE_ONSET_S = 0.005
#: A file whose peak (over what is decoded) is below this level, in dB re full scale, counts as silent.
SILENCE_DBFS = -60.0


class TargetAudioError(ValueError):
    """A target audio file cannot be used; the message names the file, the problem and the fix."""


@dataclass(frozen=True)
class AudioFileInfo:
    """What an audio file's header says, read without decoding the audio."""

    path: Path
    sample_rate_hz: float
    channels: int
    frames: int
    size_bytes: int

    @property
    def duration_s(self) -> float:
        """Length of the file in seconds."""
        return self.frames / self.sample_rate_hz


def probe_audio_file(
    path: str | Path, *, max_seconds: float = MAX_SECONDS, max_bytes: int = MAX_BYTES
) -> AudioFileInfo:
    """The header facts of an audio file, checked against the size and duration limits; decodes nothing."""
    path = Path(path)
    size_bytes = _checked_size(path, max_bytes)
    with _open(path) as file:
        return _checked_header(path, file, size_bytes, max_seconds)


def silent_peak_dbfs(audio: npt.NDArray[np.float32]) -> float | None:
    """The peak of ``audio`` in dB re full scale when it is below :data:`SILENCE_DBFS` (too quiet to match), else None.

    The one silence rule for files and for recordings.
    """
    peak_dbfs = 20.0 * math.log10(max(float(np.max(np.abs(audio), initial=0.0)), 1e-12))
    return peak_dbfs if peak_dbfs < SILENCE_DBFS else None


def load_target(
    path: str | Path,
    sample_rate: int,
    samples: int,
    *,
    max_seconds: float = MAX_SECONDS,
    max_bytes: int = MAX_BYTES,
    onset_threshold_db: float = ONSET_THRESHOLD_DB,
    pre_onset_s: float = PRE_ONSET_S,
) -> npt.NDArray[np.float32]:
    """A target from a file as ``float32[samples]`` mono at ``sample_rate`` Hz, starting at its onset.

    The channels are averaged; the audio is resampled by pedalboard's streaming resampler; the sound must start
    within the first :data:`MAX_LEAD_S` seconds; what follows is cut or zero-padded to ``samples``. See
    :func:`align_to_onset` for ``onset_threshold_db`` and ``pre_onset_s``.
    """
    path = Path(path)
    size_bytes = _checked_size(path, max_bytes)
    with _open(path) as file:
        _checked_header(path, file, size_bytes, max_seconds)
        audio = _read_mono(path, file, sample_rate, int(math.ceil(MAX_LEAD_S * sample_rate)) + samples)
    if not np.all(np.isfinite(audio)):
        raise TargetAudioError(f"{path}: contains NaN or infinite samples; re-export it as ordinary audio")
    peak = float(np.max(np.abs(audio), initial=0.0))
    if peak == 0.0:
        raise TargetAudioError(
            f"{path}: digital silence: every sample in the first {audio.size / sample_rate:.1f} s is 0; "
            f"if the sound starts after {MAX_LEAD_S:.0f} s, trim the silence before it, else export it again"
        )
    peak_dbfs = silent_peak_dbfs(audio)
    if peak_dbfs is not None:
        raise TargetAudioError(
            f"{path}: silent: its peak in the first {audio.size / sample_rate:.1f} s is {peak_dbfs:.0f} dBFS, "
            f"below {SILENCE_DBFS:.0f} dBFS; normalise it, or if the sound starts after {MAX_LEAD_S:.0f} s, "
            "trim the silence before it"
        )
    return align_to_onset(
        audio, sample_rate, samples, threshold_db=onset_threshold_db, pre_onset_s=pre_onset_s
    )


def warm_up_decoder() -> None:
    """Do pedalboard's one-time set-up of its resampler now (about 0.1 s, holding the GIL), on a tiny in-memory WAV.

    A daemon calls it at startup, so that its first target, loaded in a worker thread, does not stall the others.
    """
    buffer = io.BytesIO()
    with AudioFile(buffer, "w", 44100, 1, format="wav") as file:
        file.write(np.zeros((1, 64), dtype=np.float32))
    buffer.seek(0)
    with AudioFile(buffer) as file:
        file.resampled_to(16000.0).read(16)


def align_to_onset(
    audio: npt.NDArray[np.floating],
    sample_rate: int,
    samples: int,
    *,
    threshold_db: float = ONSET_THRESHOLD_DB,
    pre_onset_s: float = PRE_ONSET_S,
) -> npt.NDArray[np.float32]:
    """``audio[N]`` cut to start ``pre_onset_s`` before its onset, then cut or zero-padded to ``float32[samples]``.

    The onset is the first sample within ``threshold_db`` (negative, dB) of the peak, so a recording lines up
    with a rendered note. Silence is kept as it is.
    """
    audio = np.asarray(audio, dtype=np.float32)
    start = max(0, onset_sample(audio, threshold_db) - int(round(pre_onset_s * sample_rate)))
    out = np.zeros(samples, dtype=np.float32)
    kept = audio[start : start + samples]
    out[: kept.size] = kept
    return out


def onset_sample(audio: npt.NDArray[np.floating], threshold_db: float = ONSET_THRESHOLD_DB) -> int:
    """Index of the first sample of ``audio[N]`` within ``threshold_db`` (negative) of the peak; 0 for silence."""
    magnitude = np.abs(audio)
    peak = float(magnitude.max(initial=0.0))
    return int(np.argmax(magnitude >= peak * 10.0 ** (threshold_db / 20.0))) if peak > 0.0 else 0


def _checked_size(path: Path, max_bytes: int) -> int:
    """The size of the regular file ``path`` in bytes, within ``max_bytes``; nothing is opened."""
    try:
        mode, size = (info := path.stat()).st_mode, info.st_size
    except FileNotFoundError:
        raise TargetAudioError(f"{path}: no such file; check the path (relative to {Path.cwd()})") from None
    except OSError as err:
        raise TargetAudioError(f"{path}: cannot read it: {(err.strerror or str(err)).lower()}") from None
    if stat.S_ISDIR(mode):
        raise TargetAudioError(f"{path}: is a folder, not an audio file; give the path of a file inside it")
    if not stat.S_ISREG(mode):
        raise TargetAudioError(f"{path}: is {_kind(mode)}, not an audio file; give the path of a sound file")
    if size == 0:
        raise TargetAudioError(f"{path}: the file is empty (0 bytes); export the sound again")
    if size > max_bytes:
        raise TargetAudioError(
            f"{path}: {size:,} bytes is over the limit of {max_bytes:,} bytes; "
            "cut the few seconds of the sound you want into a new file"
        )
    return size


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    kinds = ((stat.S_ISFIFO, "a pipe (FIFO)"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _open(path: Path) -> ReadableAudioFile:
    try:
        file = AudioFile(str(path))
    except (ValueError, RuntimeError, OSError):
        formats = ", ".join(f.lstrip(".").upper() for f in get_supported_read_formats())
        raise TargetAudioError(f"{path}: not a readable audio file; convert it to one of {formats}") from None
    return file


def _checked_header(path: Path, file: ReadableAudioFile, size_bytes: int, max_seconds: float) -> AudioFileInfo:
    info = AudioFileInfo(
        path=path,
        sample_rate_hz=float(file.samplerate),
        channels=int(file.num_channels),
        frames=int(file.frames),
        size_bytes=size_bytes,
    )
    if info.frames == 0 or info.channels == 0:
        raise TargetAudioError(f"{path}: holds no audio (0 frames); export the sound again")
    if not MIN_SAMPLE_RATE_HZ <= info.sample_rate_hz <= MAX_SAMPLE_RATE_HZ:
        raise TargetAudioError(
            f"{path}: its header gives a sample rate of {info.sample_rate_hz:,.0f} Hz, outside "
            f"{MIN_SAMPLE_RATE_HZ:,.0f}..{MAX_SAMPLE_RATE_HZ:,.0f} Hz; the file is damaged, export the sound again"
        )
    if info.channels > MAX_CHANNELS:
        raise TargetAudioError(f"{path}: {info.channels} channels is more than {MAX_CHANNELS}; "
                               "mix it down to mono or stereo")
    if info.duration_s < MIN_SECONDS:
        raise TargetAudioError(
            f"{path}: only {info.duration_s * 1000:.2f} ms long ({info.frames} frame{'s' * (info.frames != 1)}); "
            f"a target needs at least {MIN_SECONDS * 1000:.0f} ms of sound"
        )
    if info.duration_s > max_seconds:
        raise TargetAudioError(
            f"{path}: {info.duration_s:.0f} s is longer than the {max_seconds:.0f} s limit; "
            "only the start of a target is used, so cut the sound you want into a short file"
        )
    _check_complete(path, file, info)
    return info


def _check_complete(path: Path, file: ReadableAudioFile, info: AudioFileInfo) -> None:
    """Refuse an uncompressed file (WAV, AIFF) smaller than the audio its header promises: it was cut short."""
    with open(path, "rb") as raw:
        magic = raw.read(12)
    uncompressed = (magic[:4] in (b"RIFF", b"RF64") and magic[8:12] == b"WAVE") or (
        magic[:4] == b"FORM" and magic[8:12] == b"AIFF")
    sample_bytes = PCM_BYTES.get(str(file.file_dtype))
    if not uncompressed or sample_bytes is None:
        return
    promised = info.frames * info.channels * sample_bytes
    if info.size_bytes < promised:
        raise TargetAudioError(
            f"{path}: cut short: its header promises {info.duration_s:.2f} s of audio ({promised:,} bytes), the file "
            f"is only {info.size_bytes:,} bytes; copy or export it again"
        )


def _read_mono(path: Path, file: ReadableAudioFile, sample_rate: int, frames: int) -> npt.NDArray[np.float32]:
    """The first ``frames`` frames at ``sample_rate``, channels averaged: float32[<= frames]."""
    chunks = [np.zeros((file.num_channels, 0), dtype=np.float32)]
    try:
        source = file if file.samplerate == sample_rate else file.resampled_to(float(sample_rate))
        left = min(frames, int(source.frames))
        while left > 0:  # in chunks: pedalboard holds the GIL while it reads, so other threads wait one chunk only
            chunks.append(source.read(min(READ_CHUNK_FRAMES, left)))
            if chunks[-1].shape[-1] == 0:
                break
            left -= chunks[-1].shape[-1]
    except (ValueError, RuntimeError, OSError, MemoryError) as err:
        raise TargetAudioError(f"{path}: cannot decode the audio ({err}); re-export the file") from None
    return np.concatenate(chunks, axis=1, dtype=np.float32).mean(axis=0)


def checked_recording(recording: npt.ArrayLike, sample_rate: int, samples: int) -> npt.NDArray[np.float32]:
    """A recording as a target's audio: mono, finite, audible, aligned to its onset and cut to ``samples``.

    A ValueError says what is wrong (NaN samples, silence) and what to check, for the daemon's error reply.
    """
    audio = np.asarray(recording, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0 or not np.all(np.isfinite(audio)):
        raise ValueError(f"the audio input gave {audio.shape} samples with NaN or infinity; check the device")
    peak_dbfs = silent_peak_dbfs(audio)
    if peak_dbfs is not None:
        raise ValueError(
            f"the recording is silent (peak {peak_dbfs:.0f} dBFS, below {SILENCE_DBFS:.0f} dBFS); play the "
            "sound while recording, and check the audio device and channel"
        )
    return align_to_onset(audio, sample_rate, samples)
