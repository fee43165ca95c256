"""Target augmentation for training: the same sound as users bring it, at other levels, lengths, rooms and codecs.

The agent is trained on renders of its own synth, clean, at one level and one note length; users bring samples
peak-normalised or quiet, cut short, with a noise floor, a little room, MP3 coding and other sample rates. Each
:func:`augment` draws one such version of a target from a seeded generator, so a training run stays
reproducible. Numpy and pedalboard only (the environment workers import it; no torch).

Order of the stages (each one optional but the level): gate -> room -> other sample rate -> lossy coding ->
level -> noise floor. The noise floor comes last, in dB re full scale, so a quiet target has it relatively
louder, as a quiet recording does.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt
import pedalboard

Audio = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AugmentConfig:
    """How targets are augmented; every range is drawn uniformly, every stage with its own probability."""

    share: float = 0.0
    """Share of the episodes' random-patch targets that are augmented (0: none, the environment's default)."""
    peak_dbfs: tuple[float, float] = (-40.0, -1.0)
    """Range of the target's peak level after augmentation, dB re full scale (39 dB wide)."""
    gate_probability: float = 0.5
    """Probability of cutting the note short (an earlier note off with a release)."""
    gate_s: tuple[float, float] = (0.1, 1.0)
    """Range of the earlier note off, in seconds from the start."""
    gate_release_s: tuple[float, float] = (0.02, 0.5)
    """Range of the release after it: time to fall 60 dB, in seconds."""
    room_probability: float = 0.3
    """Probability of a little room (pedalboard.Reverb)."""
    room_size: tuple[float, float] = (0.05, 0.4)
    """Range of the reverb's room size (0..1)."""
    room_wet: tuple[float, float] = (0.05, 0.25)
    """Range of the reverb's wet level (the dry level stays 1 - wet)."""
    resample_probability: float = 0.3
    """Probability of passing through another sample rate (down and back: its band limit and aliasing)."""
    resample_rates_hz: tuple[int, ...] = (8000, 11025, 12000, 22050, 32000, 44100)
    """The other sample rates, one drawn; rates above the target's only add the resampler's own filter."""
    mp3_probability: float = 0.3
    """Probability of lossy coding (pedalboard.MP3Compressor)."""
    mp3_vbr_quality: tuple[float, float] = (2.0, 9.0)
    """Range of LAME's VBR quality (0 best .. 10 worst)."""
    noise_probability: float = 0.5
    """Probability of a noise floor (white noise)."""
    noise_dbfs: tuple[float, float] = (-85.0, -55.0)
    """Range of the noise floor's RMS, dB re full scale."""

    def __post_init__(self) -> None:
        """Refuse probabilities outside [0, 1], reversed ranges and a level range under 30 dB, naming the field."""
        for field in fields(self):
            value = getattr(self, field.name)
            if (field.name.endswith("_probability") or field.name == "share") and not 0.0 <= value <= 1.0:
                raise ValueError(f"augment.{field.name} = {value} must be a probability in [0, 1]")
            if isinstance(value, tuple) and field.name != "resample_rates_hz" and value[0] > value[1]:
                raise ValueError(f"augment.{field.name} = {list(value)} must be [low, high] with low <= high")
        if self.peak_dbfs[1] - self.peak_dbfs[0] < 30.0 or self.peak_dbfs[1] > 0.0:
            raise ValueError(f"augment.peak_dbfs = {list(self.peak_dbfs)} must span at least 30 dB, at most 0 dBFS: "
                             "users bring samples at any level")


def augment(audio: npt.ArrayLike, sample_rate: int, rng: np.random.Generator, config: AugmentConfig) -> Audio:
    """One augmented version of target audio[N] at ``sample_rate`` Hz: float32[N], drawn from ``rng``.

    The length and rate stay those of the input, so the result fits the environment like the original.
    """
    out = np.asarray(audio, dtype=np.float32).reshape(-1).copy()
    if rng.random() < config.gate_probability:
        out = gate(out, sample_rate, rng.uniform(*config.gate_s), rng.uniform(*config.gate_release_s))
    if rng.random() < config.room_probability:
        wet = rng.uniform(*config.room_wet)
        room = pedalboard.Reverb(room_size=rng.uniform(*config.room_size), wet_level=wet, dry_level=1.0 - wet)
        out = process(room, out, sample_rate)
    if rng.random() < config.resample_probability:
        rate = float(config.resample_rates_hz[rng.integers(len(config.resample_rates_hz))])
        out = process(pedalboard.Resample(target_sample_rate=rate), out, sample_rate)
    if rng.random() < config.mp3_probability:
        out = process(pedalboard.MP3Compressor(vbr_quality=rng.uniform(*config.mp3_vbr_quality)), out, sample_rate)
    peak = float(np.max(np.abs(out), initial=0.0))
    if peak > 0.0:
        out *= np.float32(10.0 ** (rng.uniform(*config.peak_dbfs) / 20.0) / peak)
    if rng.random() < config.noise_probability:
        out += np.float32(10.0 ** (rng.uniform(*config.noise_dbfs) / 20.0)) * rng.standard_normal(out.size, np.float32)
    return out


def augment_batch(audio: npt.ArrayLike, sample_rate: int, rng: np.random.Generator, config: AugmentConfig) -> Audio:
    """:func:`augment` for each row of audio[B, N], in order, from the one ``rng``: float32[B, N]."""
    rows = np.asarray(audio, dtype=np.float32)
    return np.stack([augment(row, sample_rate, rng, config) for row in rows]) if len(rows) else rows.copy()


def gate(audio: Audio, sample_rate: int, note_off_s: float, release_s: float) -> Audio:
    """audio[N] released at ``note_off_s``: from there it falls 60 dB every ``release_s`` seconds."""
    times_s = np.arange(audio.size, dtype=np.float64) / sample_rate
    fall_db = np.maximum(times_s - note_off_s, 0.0) * (60.0 / release_s)
    return (audio * 10.0 ** (-fall_db / 20.0)).astype(np.float32)


def process(effect: pedalboard.Plugin, audio: Audio, sample_rate: int) -> Audio:
    """audio[N] through a pedalboard ``effect``, cut or zero-padded back to N samples (latency is compensated)."""
    processed = effect(audio[None], float(sample_rate), reset=True)[0]
    out = np.zeros_like(audio)
    out[: min(out.size, processed.size)] = processed[: out.size]
    return out
