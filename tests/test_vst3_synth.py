"""The VST3 backend on a real third-party instrument (Nekobi, built by scripts/build-nekobi.sh).

Tests marked ``vst3`` use the session's ``nekobi_synth`` and are skipped when the plugin is not built.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pedalboard
import pytest

from synthmatch.definitions import DefinitionError, SynthDefinition, load_definition
from synthmatch.note_length import with_note_length
from synthmatch.params import denormalise
from synthmatch.pitch import estimate_f0_hz, nearest_midi_note
from synthmatch.synths import SynthUnavailable, open_synth
from synthmatch.synths import vst3 as vst3_module
from synthmatch.synths.vst3 import PluginNotFound, Vst3Synth, bind_parameters, find_plugin, plugin_search_path

BUILD_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "build-nekobi.sh"

NEKOBI_PARAMETERS = ("waveform", "tuning", "cutoff", "vcf_resonance", "env_mod", "decay", "accent", "volume")

MINIMAL_VST3 = """
name = "missing"
kind = "vst3"
[plugin]
path = "{path}"
[[parameters]]
name = "cutoff"
min = 0
max = 100
"""


def spectral_centroid_hz(audio: npt.NDArray[np.float32], sample_rate: int) -> float:
    """Magnitude-weighted mean frequency of ``audio[N]`` in Hz."""
    magnitude = np.abs(np.fft.rfft(audio))
    return float((magnitude * np.fft.rfftfreq(audio.size, 1 / sample_rate)).sum() / magnitude.sum())


def rms(audio: npt.NDArray[np.float32]) -> float:
    """Root mean square level of ``audio``."""
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def defaults(synth: Vst3Synth) -> npt.NDArray[np.float64]:
    """The definition's default patch, normalised ``[P]``."""
    return np.array(synth.definition.defaults_normalised())


def with_parameter(definition: SynthDefinition, name: str, **changes: object) -> SynthDefinition:
    """``definition`` with the fields of parameter ``name`` changed."""
    parameters = tuple(dataclasses.replace(p, **changes) if p.name == name else p for p in definition.parameters)
    return dataclasses.replace(definition, parameters=parameters)


# --- finding the plugin (no plugin needed) ---


def write_definition(tmp_path: Path, plugin_path: str) -> SynthDefinition:
    """A one-parameter vst3 definition in ``tmp_path`` whose ``[plugin] path`` is ``plugin_path``."""
    path = tmp_path / "missing.toml"
    path.write_text(MINIMAL_VST3.format(path=plugin_path))
    return load_definition(path)


def test_a_missing_plugin_says_where_it_looked_and_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(vst3_module.VST3_DIR_VAR, raising=False)
    definition = write_definition(tmp_path, "$SYNTHMATCH_VST3_DIR/Nowhere.vst3")
    with pytest.raises(PluginNotFound) as caught:
        open_synth(definition)
    message = str(caught.value)
    assert "Nowhere.vst3 not found" in message and str(tmp_path / "missing.toml") in message
    assert "$SYNTHMATCH_VST3_DIR is unset" in message and str(Path.home() / ".vst3" / "Nowhere.vst3") in message
    assert "install Nowhere.vst3" in message
    assert isinstance(caught.value, SynthUnavailable)


def test_a_missing_nekobi_says_to_run_the_build_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vst3_module, "plugin_search_path", lambda: [tmp_path / "empty"])
    with pytest.raises(PluginNotFound, match=r"run scripts/build-nekobi\.sh"):
        find_plugin(write_definition(tmp_path, "$SYNTHMATCH_VST3_DIR/Nekobi.vst3"))


def test_the_plugin_is_found_by_name_in_the_vst3_folder_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "plugins" / "Some.vst3").mkdir(parents=True)
    monkeypatch.setenv(vst3_module.VST3_DIR_VAR, str(tmp_path / "plugins"))
    assert plugin_search_path()[0] == tmp_path / "plugins"
    assert find_plugin(write_definition(tmp_path, "elsewhere/Some.vst3")) == tmp_path / "plugins" / "Some.vst3"
    assert find_plugin(write_definition(tmp_path, "$SYNTHMATCH_VST3_DIR/Some.vst3")) == (
        tmp_path / "plugins" / "Some.vst3"
    )


@pytest.mark.parametrize("how", ["--prefix", "variable"])
def test_the_build_script_does_nothing_when_nekobi_is_already_built(tmp_path: Path, how: str) -> None:
    binary = tmp_path / "Nekobi.vst3" / "Contents" / "x86_64-linux" / "Nekobi.so"
    binary.parent.mkdir(parents=True)
    binary.touch()
    arguments = ["--prefix", str(tmp_path)] if how == "--prefix" else []
    environment = {**os.environ, vst3_module.VST3_DIR_VAR: str(tmp_path)} if how == "variable" else None
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), *arguments], env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert f"already built: {binary}" in result.stdout and "apt-get" not in result.stdout


def test_the_build_script_refuses_an_unknown_argument_with_its_usage() -> None:
    result = subprocess.run(["bash", str(BUILD_SCRIPT), "--prefx", "x"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "unknown argument '--prefx'" in result.stderr and "[--prefix DIR]" in result.stderr


# --- the real plugin ---


@pytest.mark.vst3
def test_the_definition_binds_all_eight_parameters_to_what_the_plugin_shows(nekobi_synth: Vst3Synth) -> None:
    assert nekobi_synth.definition.parameter_names == NEKOBI_PARAMETERS
    assert nekobi_synth.sample_rate == 44100
    patch = np.random.default_rng(3).random(len(NEKOBI_PARAMETERS))
    shown = nekobi_synth.displayed_values(patch)
    for parameter, x in zip(nekobi_synth.parameters, patch, strict=True):
        if parameter.curve == "steps":
            label = parameter.labels[int(round(x * (parameter.steps - 1)))]
            assert shown[parameter.name].lower() == label
        else:
            assert float(shown[parameter.name]) == pytest.approx(float(denormalise(parameter, x)), abs=1e-4)


@pytest.mark.vst3
def test_a_definition_may_use_part_of_a_plugin_parameters_range(nekobi_synth: Vst3Synth) -> None:
    narrow = Vst3Synth(with_parameter(nekobi_synth.definition, "cutoff", min=20.0, max=80.0, default=20.0))
    patch = defaults(nekobi_synth)
    for x, shown_cutoff in ((0.0, 20.0), (0.5, 50.0), (1.0, 80.0)):
        patch[NEKOBI_PARAMETERS.index("cutoff")] = x
        assert float(narrow.displayed_values(patch)["cutoff"]) == pytest.approx(shown_cutoff, abs=1e-4)


@pytest.mark.vst3
def test_open_synth_gives_a_vst3_synth_that_sounds_the_same(nekobi_synth: Vst3Synth) -> None:
    assert nekobi_synth.definition.source is not None
    other = open_synth(nekobi_synth.definition.source)
    assert isinstance(other, Vst3Synth)
    patch = defaults(nekobi_synth)
    np.testing.assert_array_equal(other.render(patch), nekobi_synth.render(patch))


@pytest.mark.vst3
def test_render_is_mono_float32_of_the_definitions_length_and_deterministic(nekobi_synth: Vst3Synth) -> None:
    patches = np.random.default_rng(0).random((3, len(NEKOBI_PARAMETERS)))
    patches[:, NEKOBI_PARAMETERS.index("volume")] = 0.8
    audio = nekobi_synth.render(patches)
    assert audio.dtype == np.float32 and audio.shape == (3, nekobi_synth.definition.note.render_samples)
    assert all(rms(a) > 1e-3 for a in audio)
    np.testing.assert_array_equal(nekobi_synth.render(patches), audio)


@pytest.mark.vst3
@pytest.mark.parametrize("render_seconds", [1.18, 0.75, 2.0])
def test_a_render_has_the_definitions_length_whatever_the_plugin_rounds_to(
    nekobi_synth: Vst3Synth, render_seconds: float
) -> None:
    """pedalboard gives back one sample short when render_samples / rate is not exact in floating point (1.18 s at
    44.1 kHz: 52037 of 52038); a render of a target's length (matched audio, full-band distance) must not fail."""
    definition = with_note_length(nekobi_synth.definition, 0.5, render_seconds)
    audio = Vst3Synth(definition).render(defaults(nekobi_synth))
    assert audio.shape == (1, definition.note.render_samples) and rms(audio[0]) > 1e-3


@pytest.mark.vst3
def test_the_short_warm_up_changes_no_sound_and_a_silent_patch_renders_silence(nekobi_synth: Vst3Synth) -> None:
    # pedalboard's own 10 s warm-up, against WARM_UP_TIMEOUT_S: the same notes, sample for sample.
    patches = np.random.default_rng(3).random((3, len(NEKOBI_PARAMETERS)))
    patches[:, NEKOBI_PARAMETERS.index("volume")] = 0.8
    plugin = nekobi_synth.plugin
    try:
        nekobi_synth.plugin = pedalboard.VST3Plugin(str(find_plugin(nekobi_synth.definition)))
        patient = nekobi_synth.render(patches)
    finally:
        nekobi_synth.plugin = plugin
    np.testing.assert_array_equal(nekobi_synth.render(patches), patient)
    patches[:, NEKOBI_PARAMETERS.index("volume")] = 0.0
    assert np.abs(nekobi_synth.render(patches[:1])).max() == 0.0


@pytest.mark.vst3
@pytest.mark.parametrize("velocity", [80, 127], ids=["plain", "accented"])
def test_renders_are_independent_nothing_carries_over(nekobi_synth: Vst3Synth, velocity: int) -> None:
    a = np.array([1.0, 0.3, 0.2, 1.0, 0.9, 0.2, 1.0, 0.8])
    b = np.array([0.0, 0.7, 0.9, 0.0, 0.1, 0.9, 0.0, 0.5])
    first_a = nekobi_synth.render(a, velocity=velocity)
    then_b = nekobi_synth.render(b, velocity=velocity)
    again_a = nekobi_synth.render(a, velocity=velocity)
    assert np.abs(then_b - first_a).max() > 0.05  # the change is heard in the very next render
    np.testing.assert_array_equal(again_a, first_a)
    np.testing.assert_array_equal(nekobi_synth.render(np.stack([a, b, a]), velocity=velocity)[2], first_a[0])


@pytest.mark.vst3
def test_cutoff_raises_the_spectral_centroid(nekobi_synth: Vst3Synth) -> None:
    patches = np.tile(defaults(nekobi_synth), (3, 1))
    patches[:, NEKOBI_PARAMETERS.index("cutoff")] = [0.0, 0.5, 1.0]
    centroids = [spectral_centroid_hz(a, nekobi_synth.sample_rate) for a in nekobi_synth.render(patches)]
    assert centroids[0] * 1.2 < centroids[1] and centroids[1] * 1.2 < centroids[2]


@pytest.mark.vst3
@pytest.mark.parametrize(
    "name,measure,direction",
    [
        ("vcf_resonance", "centroid", +1),
        ("env_mod", "centroid", +1),
        ("accent", "centroid", +1),
        ("decay", "centroid", -1),  # a higher decay setting closes the filter faster
        ("tuning", "f0", +1),
        ("volume", "rms", +1),
        ("waveform", "rms", -1),  # the triangle is quieter than the square
    ],
)
def test_each_parameter_moves_the_sound_its_way(
    nekobi_synth: Vst3Synth, name: str, measure: str, direction: int
) -> None:
    patches = np.tile(defaults(nekobi_synth), (2, 1))
    patches[:, NEKOBI_PARAMETERS.index(name)] = [0.1, 1.0]
    low, high = nekobi_synth.render(patches)
    sample_rate = nekobi_synth.sample_rate
    values = {
        "centroid": lambda a: spectral_centroid_hz(a, sample_rate),
        "f0": lambda a: estimate_f0_hz(a, sample_rate),
        "rms": rms,
    }[measure]
    at_low, at_high = values(low), values(high)
    assert at_low is not None and at_high is not None
    assert direction * (at_high - at_low) > 0.1 * abs(at_low)


@pytest.mark.vst3
def test_a_batch_of_mixed_notes_sounds_like_each_row_alone(nekobi_synth: Vst3Synth) -> None:
    patches = np.stack([defaults(nekobi_synth)] * 2)
    batch = nekobi_synth.render(patches, note=np.array([45, 57]), velocity=np.array([100, 80]))
    np.testing.assert_array_equal(batch[0], nekobi_synth.render(patches[0], note=45, velocity=100)[0])
    np.testing.assert_array_equal(batch[1], nekobi_synth.render(patches[1], note=57, velocity=80)[0])
    with pytest.raises(ValueError, match=r"note has shape \(3,\), expected .*shape \(2,\)"):
        nekobi_synth.render(patches, note=np.array([45, 57, 69]))


@pytest.mark.vst3
@pytest.mark.parametrize("note", [33, 45, 57, 69])
def test_the_pitch_follows_the_note(nekobi_synth: Vst3Synth, note: int) -> None:
    f0_hz = estimate_f0_hz(nekobi_synth.render(defaults(nekobi_synth), note=note)[0], nekobi_synth.sample_rate)
    assert f0_hz is not None and nearest_midi_note(f0_hz) == note


@pytest.mark.vst3
def test_velocity_above_90_plays_a_louder_accented_note(nekobi_synth: Vst3Synth) -> None:
    patch = defaults(nekobi_synth)
    assert rms(nekobi_synth.render(patch, velocity=100)) > 1.1 * rms(nekobi_synth.render(patch, velocity=80))


@pytest.mark.vst3
def test_bad_notes_and_params_are_refused_with_the_valid_range(nekobi_synth: Vst3Synth) -> None:
    with pytest.raises(ValueError, match=r"note 128 is outside the MIDI range 0\.\.127"):
        nekobi_synth.render(defaults(nekobi_synth), note=128)
    with pytest.raises(ValueError, match=r"velocity 0 is outside the MIDI range 1\.\.127"):
        nekobi_synth.render(defaults(nekobi_synth), velocity=0)
    with pytest.raises(ValueError, match=r"shape \[batch, 8\]"):
        nekobi_synth.render(np.zeros((2, 3)))


@pytest.mark.vst3
@pytest.mark.parametrize(
    "name,changes,message",
    [
        ("cutoff", {"plugin_name": "cutof"}, r"no parameter 'cutof'; did you mean cutoff\?.*Set plugin_name"),
        ("cutoff", {"max": 150.0}, r"range 0\.\.150 % is outside the plugin's 0\.\.100; set min and max within it"),
        ("waveform", {"labels": ("saw", "square", "pulse")}, r"3 labels .* plugin shows 2 values \(Square, Triangle\)"),
    ],
)
def test_a_definition_that_does_not_fit_the_plugin_is_refused(
    nekobi_synth: Vst3Synth, name: str, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(DefinitionError, match=message):
        bind_parameters(with_parameter(nekobi_synth.definition, name, **changes), nekobi_synth.plugin)


@pytest.mark.vst3
def test_rendering_off_the_main_thread_is_refused_with_the_fix(nekobi_synth: Vst3Synth) -> None:
    errors: list[Exception] = []

    def render() -> None:
        try:
            nekobi_synth.render(defaults(nekobi_synth))
        except RuntimeError as err:
            errors.append(err)

    worker = threading.Thread(target=render)
    worker.start()
    worker.join()
    assert len(errors) == 1 and "main thread" in str(errors[0]) and "worker process" in str(errors[0])


@pytest.mark.vst3
def test_loading_and_playing_the_plugin_leaves_numpys_subnormal_numbers_alone(nekobi_synth: Vst3Synth) -> None:
    nekobi_synth.render(defaults(nekobi_synth))
    assert np.finfo(np.float64).smallest_normal / np.float64(4) > 0  # Nekobi is built with -ffast-math
    assert np.finfo(np.float32).smallest_normal / np.float32(4) > 0
