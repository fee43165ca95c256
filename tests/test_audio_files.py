"""Targets from audio files: formats, mono mix, resampling, onset alignment, length, and every refusal."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from pedalboard.io import AudioFile

from synthmatch.audio_files import (
    MAX_CHANNELS,
    MAX_LEAD_S,
    TargetAudioError,
    align_to_onset,
    load_target,
    probe_audio_file,
)

RATE_HZ = 16000


def tone(freq_hz: float, seconds: float, sample_rate: int, amplitude: float = 0.5) -> npt.NDArray[np.float32]:
    """A sine: float32[seconds * sample_rate]."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def write(path: Path, audio: npt.NDArray[np.float32], sample_rate: int, bit_depth: int = 16) -> Path:
    """Write ``audio[channels, N]`` (or ``[N]``) to ``path``; the format follows the suffix."""
    audio = np.atleast_2d(audio)
    with AudioFile(str(path), "w", sample_rate, audio.shape[0], bit_depth=bit_depth) as file:
        file.write(audio)
    return path


def peak_hz(audio: npt.NDArray[np.float32], sample_rate: int) -> float:
    """Frequency of the strongest bin of the spectrum of ``audio[N]``."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.fft.rfftfreq(audio.size, 1.0 / sample_rate)[spectrum.argmax()])


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3", ".aiff"])
def test_each_format_loads_at_the_requested_rate_and_keeps_the_pitch(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / f"a440{suffix}", tone(440.0, 1.5, 44100), 44100)
    audio = load_target(path, RATE_HZ, RATE_HZ)
    assert audio.shape == (RATE_HZ,) and audio.dtype == np.float32
    assert peak_hz(audio, RATE_HZ) == pytest.approx(440.0, abs=2.0)
    assert np.sqrt(np.mean(audio[4000:12000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    left, right = tone(440.0, 0.5, RATE_HZ), tone(660.0, 0.5, RATE_HZ, amplitude=0.25)
    path = write(tmp_path / "stereo.wav", np.stack([left, right]), RATE_HZ, bit_depth=32)
    audio = load_target(path, RATE_HZ, 4000)  # the sound starts at sample 0, so nothing is cut
    np.testing.assert_allclose(audio, ((left + right) / 2)[:4000], atol=1e-6)


def test_the_sound_starts_a_few_ms_after_the_start_of_the_target(tmp_path: Path) -> None:
    silence_then_tone = np.concatenate([np.zeros(int(0.7 * 44100), np.float32), tone(440.0, 1.0, 44100)])
    path = write(tmp_path / "late.wav", silence_then_tone, 44100)
    audio = load_target(path, RATE_HZ, RATE_HZ, pre_onset_s=0.005)
    first_loud = int(np.argmax(np.abs(audio) > 0.05))
    assert 0.003 * RATE_HZ <= first_loud <= 0.008 * RATE_HZ
    assert np.all(audio[: int(0.003 * RATE_HZ)] == 0.0)


def test_a_short_file_is_padded_with_zeros_and_a_long_one_cut(tmp_path: Path) -> None:
    short = load_target(write(tmp_path / "short.wav", tone(440.0, 0.25, RATE_HZ), RATE_HZ), RATE_HZ, RATE_HZ)
    assert short.shape == (RATE_HZ,)
    assert np.abs(short[: RATE_HZ // 5]).max() > 0.4 and np.all(short[RATE_HZ // 4 :] == 0.0)
    long = load_target(write(tmp_path / "long.wav", tone(440.0, 3.0, RATE_HZ), RATE_HZ), RATE_HZ, RATE_HZ)
    assert long.shape == (RATE_HZ,) and np.abs(long[-100:]).max() > 0.4


def test_silence_is_aligned_as_it_is() -> None:
    assert np.all(align_to_onset(np.zeros(100, np.float32), RATE_HZ, 50) == 0.0)


def test_probe_reads_the_header(tmp_path: Path) -> None:
    path = write(tmp_path / "stereo.flac", np.zeros((2, 22050), np.float32) + 0.1, 44100)
    info = probe_audio_file(path)
    assert (info.sample_rate_hz, info.channels, info.frames) == (44100.0, 2, 22050)
    assert info.duration_s == pytest.approx(0.5)
    assert info.size_bytes == path.stat().st_size


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _zero_frames(path: Path) -> Path:
    with AudioFile(str(path), "w", RATE_HZ, 1):
        pass
    return path


def _text(path: Path) -> Path:
    path.write_text("not audio at all\n" * 20)
    return path


def _random_bytes(path: Path) -> Path:
    path.write_bytes(os.urandom(4096))
    return path


def _silent(path: Path) -> Path:
    return write(path, tone(440.0, 1.0, RATE_HZ, amplitude=1e-4), RATE_HZ)


def _nan(path: Path) -> Path:
    audio = tone(440.0, 0.5, RATE_HZ)
    audio[100] = np.nan
    return write(path, audio, RATE_HZ, bit_depth=32)


def wav_bytes(frames: int, sample_rate: int = RATE_HZ, channels: int = 1, data: bytes | None = None) -> bytes:
    """A 16-bit PCM WAV whose header promises ``frames`` frames, followed by ``data`` (default: all of a tone)."""
    size = frames * channels * 2
    if data is None:
        data = (np.resize(tone(440.0, 0.01, sample_rate), frames * channels) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * channels * 2, channels * 2, 16)
    return b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", size) + data


def _one_sample(path: Path) -> Path:
    path.write_bytes(wav_bytes(1))
    return path


def _cut_after_the_header(path: Path) -> Path:
    path.write_bytes(wav_bytes(RATE_HZ, data=b""))
    return path


def _absurd_sample_rate(path: Path) -> Path:
    path.write_bytes(wav_bytes(1000, sample_rate=2**31 - 1))
    return path


def _too_many_channels(path: Path) -> Path:
    path.write_bytes(wav_bytes(1000, channels=MAX_CHANNELS + 1))
    return path


def _digital_silence(path: Path) -> Path:
    return write(path, np.zeros(RATE_HZ, np.float32), RATE_HZ)


def _fifo(path: Path) -> Path:
    os.mkfifo(path)  # opening it would block until a writer came
    return path


def _sound_after_the_lead(path: Path) -> Path:
    lead = np.zeros(int((MAX_LEAD_S + 2) * 8000), np.float32)
    return write(path, np.concatenate([lead, tone(440.0, 0.5, 8000)]), 8000)


BAD_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (lambda path: path, "no such file"),
    "folder": (_folder, "is a folder"),
    "empty": (_empty, "empty"),
    "zero frames": (_zero_frames, "no audio"),
    "text": (_text, "not a readable audio file"),
    "random bytes": (_random_bytes, "not a readable audio file"),
    "silent": (_silent, "silent"),
    "NaN": (_nan, "NaN"),
    "sound after the lead": (_sound_after_the_lead, "trim the silence before it"),
    "one sample": (_one_sample, r"only 0.06 ms long \(1 frame\); a target needs at least 10 ms"),
    "cut after the header": (_cut_after_the_header, r"cut short: its header promises 1.00 s of audio \(32,000 bytes\), "
                             "the file is only 44 bytes"),
    "absurd sample rate": (_absurd_sample_rate, "sample rate of 2,147,483,647 Hz, outside 1,000..384,000 Hz"),
    "too many channels": (_too_many_channels, "9 channels is more than 8; mix it down"),
    "digital silence": (_digital_silence, "digital silence: every sample in the first 1.0 s is 0"),
    "FIFO": (_fifo, r"is a pipe \(FIFO\), not an audio file"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_refused_naming_the_file_and_the_problem(tmp_path: Path, case: str) -> None:
    make, problem = BAD_FILES[case]
    path = make(tmp_path / "target.wav")
    with pytest.raises(TargetAudioError, match=problem) as caught:
        load_target(path, RATE_HZ, RATE_HZ)
    assert str(path) in str(caught.value)


def test_a_character_device_is_not_called_empty() -> None:
    with pytest.raises(TargetAudioError, match="/dev/zero: is a character device, not an audio file"):
        load_target("/dev/zero", RATE_HZ, RATE_HZ)


def test_a_long_file_is_refused_from_its_header(tmp_path: Path) -> None:
    path = write(tmp_path / "long.wav", tone(440.0, 3.0, 8000), 8000)
    with pytest.raises(TargetAudioError, match=r"long.wav: 3 s is longer than the 2 s limit"):
        load_target(path, RATE_HZ, RATE_HZ, max_seconds=2.0)
    with pytest.raises(TargetAudioError, match="longer than"):
        probe_audio_file(path, max_seconds=2.0)


def test_a_big_file_is_refused_before_opening(tmp_path: Path) -> None:
    path = write(tmp_path / "big.wav", tone(440.0, 1.0, 8000), 8000)
    size = f"{path.stat().st_size:,}"
    with pytest.raises(TargetAudioError, match=f"big.wav: {size} bytes is over the limit of 1,000 bytes"):
        load_target(path, RATE_HZ, RATE_HZ, max_bytes=1000)
