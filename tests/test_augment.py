"""Target augmentation: seeded, level over 30 dB and more, gates, noise floor, room, lossy coding, other rates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthmatch.note_length import estimate_note_length
from synthmatch.synths import open_synth
from synthmatch.training.augment import AugmentConfig, augment, augment_batch

RATE = 16000
NOTHING = AugmentConfig(gate_probability=0.0, room_probability=0.0, resample_probability=0.0, mp3_probability=0.0,
                        noise_probability=0.0)


@pytest.fixture(scope="module")
def note() -> np.ndarray:
    """A bright built-in note (default patch, cutoff open), held 0.6 s of its 1 s."""
    synth = open_synth("builtin")
    params = np.array(synth.definition.defaults_normalised())
    params[synth.definition.parameter_names.index("cutoff_hz")] = 0.9
    return synth.render(params[None], 60)[0]


def only(**changes: object) -> AugmentConfig:
    """NOTHING but the stages in ``changes`` (each given probability 1 or its settings)."""
    return AugmentConfig(**{**NOTHING.__dict__, **changes})


def band_energy(audio: np.ndarray, low_hz: float) -> float:
    """Share of the energy of audio[N] above ``low_hz``."""
    power = np.abs(np.fft.rfft(audio)) ** 2
    return float(power[np.fft.rfftfreq(audio.size, 1 / RATE) >= low_hz].sum() / power.sum())


def test_the_same_seed_gives_the_same_targets_and_another_seed_others(note: np.ndarray) -> None:
    batch = np.stack([note, note[::-1].copy()])
    first = augment_batch(batch, RATE, np.random.default_rng(5), AugmentConfig())
    assert first.shape == batch.shape and first.dtype == np.float32 and np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, augment_batch(batch, RATE, np.random.default_rng(5), AugmentConfig()))
    assert not np.array_equal(first, augment_batch(batch, RATE, np.random.default_rng(6), AugmentConfig()))


def test_levels_spread_over_more_than_30_db(note: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    peaks_db = [20 * np.log10(np.max(np.abs(augment(note, RATE, rng, NOTHING)))) for _ in range(200)]
    assert min(peaks_db) < -35 and max(peaks_db) > -5 and max(peaks_db) <= -1 + 1e-4


def test_a_gate_cuts_the_note_short(note: np.ndarray) -> None:
    gated = augment(note, RATE, np.random.default_rng(1), only(gate_probability=1.0, gate_s=(0.2, 0.2),
                                                               gate_release_s=(0.05, 0.05)))
    assert estimate_note_length(gated, RATE).note_seconds == pytest.approx(0.2, abs=0.05)
    assert estimate_note_length(note, RATE).note_seconds > 0.5


def test_a_noise_floor_fills_the_silence_at_the_drawn_level() -> None:
    silence = np.zeros(RATE, np.float32)
    noisy = augment(silence, RATE, np.random.default_rng(2), only(noise_probability=1.0, noise_dbfs=(-60.0, -60.0)))
    assert 20 * np.log10(np.sqrt(np.mean(noisy**2))) == pytest.approx(-60.0, abs=0.5)


def test_a_low_sample_rate_takes_the_top_of_the_spectrum_away(note: np.ndarray) -> None:
    low = augment(note, RATE, np.random.default_rng(3), only(resample_probability=1.0, resample_rates_hz=(8000,)))
    assert low.shape == note.shape
    assert band_energy(low, 4500.0) < 0.1 * band_energy(note, 4500.0)


@pytest.mark.parametrize("stage", ["room", "mp3"])
def test_room_and_lossy_coding_change_the_sound_but_keep_it(note: np.ndarray, stage: str) -> None:
    changed = augment(note, RATE, np.random.default_rng(4), only(**{f"{stage}_probability": 1.0}))
    level = np.max(np.abs(changed)) / np.max(np.abs(note))
    restored = changed / level
    assert changed.shape == note.shape and np.all(np.isfinite(changed))
    assert np.sqrt(np.mean((restored - note) ** 2)) / np.sqrt(np.mean(note**2)) > 0.02  # audibly changed
    assert np.corrcoef(restored, note)[0, 1] > 0.5  # still the same note, aligned (latency compensated)


def test_bad_settings_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match=r"augment.peak_dbfs = \[-20.0, -1.0\] must span at least 30 dB"):
        AugmentConfig(peak_dbfs=(-20.0, -1.0))
    with pytest.raises(ValueError, match=r"augment.mp3_probability = 2 must be a probability"):
        AugmentConfig(mp3_probability=2)


def test_the_environment_augments_its_share_of_targets_and_keeps_their_patches() -> None:
    """share 1: random targets sound other than without augmentation (all but those only moved in level, which equal
    loudness hides), their oracle patches are the same; share 0 changes nothing."""
    from synthmatch.training.vector_environment import SynthMatchVectorEnv

    plain = SynthMatchVectorEnv(8, synth="builtin")
    augmented = SynthMatchVectorEnv(8, synth="builtin", augment=AugmentConfig(share=1.0))
    none_drawn = SynthMatchVectorEnv(8, synth="builtin", augment=AugmentConfig(share=0.0))
    obs_plain, info_plain = plain.reset(seed=3)
    obs_aug, info_aug = augmented.reset(seed=3)
    obs_none, _ = none_drawn.reset(seed=3)
    differs = np.abs(obs_aug["target"] - obs_plain["target"]).reshape(8, -1).max(axis=1)
    assert (differs > 0.5).sum() >= 6, differs
    assert np.array_equal(obs_none["target"], obs_plain["target"])
    assert np.array_equal(info_aug["target_params"], info_plain["target_params"])


def test_the_training_config_reads_an_augment_table(tmp_path: Path) -> None:
    """[augment] in a training config: the share and two-number ranges from TOML lists; bad ones are named."""
    from synthmatch.training.config import load_config

    path = tmp_path / "run.toml"
    path.write_text("[augment]\nshare = 0.5\npeak_dbfs = [-45, -1]\nresample_rates_hz = [8000, 22050]\n")
    config = load_config(path)
    assert config.augment.share == 0.5
    assert config.augment.peak_dbfs == (-45.0, -1.0)
    assert config.augment.resample_rates_hz == (8000, 22050)
    path.write_text("[augment]\npeak_dbfs = [-45]\n")
    with pytest.raises(ValueError, match="peak_dbfs.*list of 2 numbers"):
        load_config(path)
