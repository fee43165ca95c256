"""Keeping a match: `match --compare-out/--preset-out/--midi-file` and `patch convert`, and their bad input.

Runs the commands in-process (synthmatch.cli.main) with the random search, so no model is needed. Every refusal
is one line on stderr, exit status 1, and leaves any file that was there as it was.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pedalboard.io import AudioFile

from synthmatch.audio_files import load_target
from synthmatch.cli import main
from synthmatch.definitions import find_definition
from synthmatch.matched_audio import COMPARE_GAP_S, write_audio
from synthmatch.note_length import longest_render_samples
from synthmatch.params import quantise_all
from synthmatch.patch_exports import ExportError, Exports
from synthmatch.synths import open_synth
from synthmatch.synths.vst3 import Vst3Synth, find_plugin, load_instrument

QUICK = ["--method", "random", "--steps", "4"]


@pytest.fixture(scope="module")
def target_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random builtin note at MIDI 52, at the synth's rate."""
    synth = open_synth("builtin")
    patch = quantise_all(synth.definition, np.random.default_rng(5).random(len(synth.parameters)))
    path = tmp_path_factory.mktemp("target") / "target.wav"
    write_audio(path, synth.render(patch[None], 52)[0], synth.sample_rate)
    return path


def read_audio(path: Path) -> tuple[np.ndarray, float]:
    with AudioFile(str(path)) as file:
        return file.read(file.frames)[0], file.samplerate


def refused(capsys: pytest.CaptureFixture[str], argv: list[str], *words: str) -> None:
    """``argv`` exits 1 with one line on stderr that holds every one of ``words``, and prints nothing else."""
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert all(word in err for word in words), err


def test_compare_out_is_the_target_a_gap_then_the_match_as_audio_out_plays_it(
    target_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    matched, both = tmp_path / "match.wav", tmp_path / "ab.wav"
    assert main(["match", str(target_wav), *QUICK, "--audio-out", str(matched), "--compare-out", str(both)]) == 0
    assert f"target then match written to {both}" in capsys.readouterr().out
    b, rate = read_audio(matched)
    ab, ab_rate = read_audio(both)
    gap = round(COMPARE_GAP_S * rate)
    definition = find_definition("builtin")
    a = load_target(target_wav, definition.note.sample_rate, longest_render_samples(definition))[: b.size]
    assert ab_rate == rate == definition.note.sample_rate and ab.size == a.size + gap + b.size
    np.testing.assert_allclose(ab[: a.size], a, atol=1e-4)  # the target at its own level
    assert not ab[a.size : a.size + gap].any()
    np.testing.assert_allclose(ab[a.size + gap :], b, atol=1e-4)  # the match at the level the match chose
    assert np.abs(b).max() > 0.01


def test_the_midi_file_of_a_match_and_of_its_converted_patch_are_the_same(
    target_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    patch, first, second = tmp_path / "p.json", tmp_path / "a.mid", tmp_path / "b.mid"
    assert main(["match", str(target_wav), *QUICK, "--out", str(patch), "--midi-file", str(first)]) == 0
    assert f".mid file written to {first}" in capsys.readouterr().out
    assert main(["patch", "convert", str(patch), "--midi-file", str(second)]) == 0
    assert capsys.readouterr().out == f".mid file written to {second}\n"
    assert first.read_bytes()[:4] == b"MThd" and first.read_bytes() == second.read_bytes()
    assert main(["patch", "convert", str(patch), "--midi-file", str(second)]) == 0  # a MIDI file may be replaced


def test_a_file_the_synth_cannot_have_is_refused_before_the_match(
    target_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preset = tmp_path / "x.vstpreset"
    refused(capsys, ["match", str(target_wav), *QUICK, "--preset-out", str(preset)],
            "builtin is a builtin synth, not a VST3 plugin", "only vst3 synths")
    # nekobi's definition has no MIDI controllers; refused from the definition alone, without the plugin
    refused(capsys, ["match", str(target_wav), "--synth", "nekobi", "--midi-file", str(tmp_path / "x.mid")],
            "nekobi has no parameter with a MIDI transport")
    assert not list(tmp_path.iterdir())


def test_bad_paths_are_refused_and_other_files_left_alone(
    target_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    patch = tmp_path / "p.json"
    assert main(["match", str(target_wav), *QUICK, "--out", str(patch)]) == 0
    capsys.readouterr()
    convert = ["patch", "convert", str(patch)]
    refused(capsys, [*convert, "--midi-file", str(tmp_path / "no" / "x.mid")], "no such folder")
    refused(capsys, [*convert, "--midi-file", str(tmp_path / "x.txt")], "x.txt", "suffix .mid")
    notes = tmp_path / "notes.mid"
    notes.write_text("my notes")
    refused(capsys, [*convert, "--midi-file", str(notes)], "exists and is not a .mid file")
    assert notes.read_text() == "my notes"
    refused(capsys, [*convert, "--midi-file", "/proc/synthmatch-test.mid"], "/proc/synthmatch-test.mid")
    refused(capsys, [*convert, "--preset-out", str(tmp_path / "x.vstpreset")], "not a VST3 plugin")
    refused(capsys, convert, "nothing to write", "--preset-out", "--midi-file")
    refused(capsys, ["patch", "convert", str(tmp_path / "gone.json"), "--midi-file", str(tmp_path / "y.mid")],
            "gone.json: no such patch file")
    refused(capsys, [*convert, "--synth", "nekobi", "--midi-file", str(tmp_path / "y.mid")],
            "the patch is for synth 'builtin', not 'nekobi'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mid", "p.json"]


def test_the_daemons_option_names_files_beside_the_patch(tmp_path: Path) -> None:
    json_file = tmp_path / "lead.v2.json"
    both = Exports(tmp_path / "lead.v2.vstpreset", tmp_path / "lead.v2.mid")
    assert Exports.beside(json_file, "vstpreset, MID") == both
    assert Exports.beside(json_file, "mid") == Exports(midi=tmp_path / "lead.v2.mid")
    for bad in ("wav", "", "mid,wav"):
        with pytest.raises(ExportError, match="vstpreset, mid"):
            Exports.beside(json_file, bad)


@pytest.mark.vst3
def test_a_nekobi_match_and_its_converted_patch_give_presets_with_the_same_values(
    nekobi_synth: Vst3Synth, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "bass.wav"
    patch = quantise_all(nekobi_synth.definition, np.random.default_rng(8).random(len(nekobi_synth.parameters)))
    write_audio(target, nekobi_synth.render(patch[None], 45)[0], nekobi_synth.sample_rate)
    saved, first, second = tmp_path / "p.json", tmp_path / "a.vstpreset", tmp_path / "b.vstpreset"
    argv = ["match", str(target), "--synth", "nekobi", "--method", "random", "--steps", "2", "--out", str(saved)]
    assert main([*argv, "--preset-out", str(first)]) == 0
    assert main(["patch", "convert", str(saved), "--preset-out", str(second)]) == 0
    assert f".vstpreset file written to {second}" in capsys.readouterr().out
    continuous = [binding.index for binding in nekobi_synth._bindings if binding.units is not None]
    raws = []
    for preset in (first, second):
        plugin = load_instrument(find_plugin(nekobi_synth.definition))
        plugin.load_preset(str(preset))
        raws.append([plugin._parameters[i].raw_value for i in continuous])
    np.testing.assert_allclose(raws[0], raws[1], atol=1e-4)
