"""Fuzzing the target loader: whatever bytes a file holds, it loads or raises TargetAudioError, and never hangs."""

from __future__ import annotations

import faulthandler
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthmatch.audio_files import TargetAudioError, load_target

RATE_HZ = 16000
SAMPLES = 4000
#: A loader stuck this long is a hang: the process dumps every thread's stack and exits.
HANG_S = 60.0
FUZZ = settings(max_examples=800, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    """Turn a hang into a failure with a stack dump instead of a stuck test run."""
    faulthandler.dump_traceback_later(HANG_S, exit=True, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()


def valid_wav(frames: int = 800, sample_rate: int = 8000, channels: int = 1) -> bytes:
    """A 16-bit PCM WAV of a loud tone."""
    data = (np.sin(np.arange(frames * channels) * 0.2) * 20000).astype("<i2").tobytes()
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * channels * 2, channels * 2, 16)
    return b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", len(data)) \
        + data


VALID = valid_wav()


def check_loads_or_refuses(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and load it: a float32 target, or TargetAudioError naming the file."""
    path.write_bytes(data)
    try:
        audio = load_target(path, RATE_HZ, SAMPLES)
    except TargetAudioError as err:
        message = str(err)
        assert message.startswith(f"{path}: ") and "\n" not in message and len(message) < 400
    else:
        assert audio.shape == (SAMPLES,) and audio.dtype == np.float32 and np.all(np.isfinite(audio))


@FUZZ
@given(data=st.binary(min_size=1, max_size=2048))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    check_loads_or_refuses(tmp_path / "fuzz.wav", data)


@FUZZ
@given(cut=st.integers(min_value=1, max_value=len(VALID)))
def test_truncated_wav(tmp_path: Path, cut: int) -> None:
    check_loads_or_refuses(tmp_path / "fuzz.wav", VALID[:cut])


@FUZZ
@given(changes=st.lists(st.tuples(st.integers(min_value=0, max_value=63), st.integers(min_value=0, max_value=255)),
                        min_size=1, max_size=6),
       numbers=st.lists(st.tuples(st.sampled_from([4, 22, 24, 28, 32, 34, 40]),
                                  st.sampled_from([0, 1, 2, 3, 255, 2**15, 2**16 - 1, 2**31 - 1, 2**32 - 1])),
                        max_size=3))
def test_mangled_wav_header(tmp_path: Path, changes: list[tuple[int, int]], numbers: list[tuple[int, int]]) -> None:
    data = bytearray(VALID)
    for offset, byte in changes:  # random bytes anywhere in the header
        data[offset] = byte
    for offset, value in numbers:  # extreme values in the header's fields (sizes, channels, rate, bit depth)
        width = 2 if offset in (22, 32, 34) else 4
        data[offset : offset + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
    check_loads_or_refuses(tmp_path / "fuzz.wav", bytes(data))
