"""The data set format (synthmatch.datasets): manifest, patches drawn from (seed, i), shards, and the reader."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from synthmatch.datasets import (
    DatasetError,
    Manifest,
    Shard,
    definition_sha256,
    open_dataset,
    patch_for,
    patches_for,
    read_manifest,
    shard_path,
    write_manifest,
    write_shard,
)
from synthmatch.definitions import Parameter, SynthDefinition, find_definition
from synthmatch.params import quantise_all


@pytest.fixture(scope="module")
def builtin() -> SynthDefinition:
    """The shipped built-in synth's definition."""
    return find_definition("builtin")


def _shard(manifest: Manifest, shard: int, definition: SynthDefinition, silent: tuple[int, ...] = ()) -> Shard:
    """Shard ``shard`` with every patch kept but ``silent``, its audio a ramp that names the patch number."""
    covered = manifest.shard_indices(shard)
    kept = np.array([i for i in covered if i not in silent], dtype=np.int64)
    params, notes = patches_for(manifest.seed, kept, definition)
    audio = np.repeat(kept[:, None].astype(np.float32) / np.float32(1000), manifest.samples, axis=1)
    return Shard(kept, params, notes, audio, skipped_silent=np.array(silent, dtype=np.int64))


def test_a_patch_depends_only_on_the_seed_and_its_number(builtin: SynthDefinition) -> None:
    params, note = patch_for(7, 12, builtin)
    again, same_note = patch_for(7, 12, builtin)
    assert params.dtype == np.float32 and params.shape == (len(builtin.parameters),)
    np.testing.assert_array_equal(params, again)
    assert note == same_note
    assert builtin.note.lowest_note <= note <= builtin.note.highest_note
    assert not np.array_equal(params, patch_for(7, 13, builtin)[0])
    assert not np.array_equal(params, patch_for(8, 12, builtin)[0])
    batch, notes = patches_for(7, [12, 3], builtin)
    np.testing.assert_array_equal(batch[0], params)
    np.testing.assert_array_equal(batch[1], patch_for(7, 3, builtin)[0])
    assert notes[0] == note


def test_patches_cover_the_playable_notes_and_snap_to_what_the_synth_takes(builtin: SynthDefinition) -> None:
    params, notes = patches_for(1, range(400), builtin)
    assert notes.min() == builtin.note.lowest_note and notes.max() == builtin.note.highest_note
    np.testing.assert_allclose(quantise_all(builtin, params), params, atol=1e-6)  # values the synth can take
    cc7 = [k for k, p in enumerate(builtin.parameters) if p.midi is not None and p.midi.kind == "cc7"]
    assert cc7 and all(len(np.unique(params[:, k])) <= 128 for k in cc7)
    assert params.min() >= 0.0 and params.max() <= 1.0


def test_the_hash_ignores_descriptions_and_plugin_path_but_not_ranges(builtin: SynthDefinition) -> None:
    base = definition_sha256(builtin)
    described = dataclasses.replace(builtin, description="another text", plugin_path=Path("/elsewhere/x.vst3"))
    assert definition_sha256(described) == base
    first: Parameter = builtin.parameters[0]
    narrower = dataclasses.replace(first, max=first.max * 0.5 if first.max else 0.5)
    changed = dataclasses.replace(builtin, parameters=(narrower, *builtin.parameters[1:]))
    assert definition_sha256(changed) != base


def test_shards_written_are_read_back_with_the_skipped_ones(builtin: SynthDefinition, tmp_path: Path) -> None:
    manifest = Manifest.for_definition(builtin, seed=3, patches=10, source="render", shard_size=4)
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    write_shard(tmp_path, manifest, 2, _shard(manifest, 2, builtin))
    write_shard(tmp_path, manifest, 0, _shard(manifest, 0, builtin, silent=(1,)))
    dataset = open_dataset(tmp_path, builtin)
    assert dataset.missing_shards() == [1] and not dataset.complete
    params, notes, audio, index = dataset.load_all()
    assert index.tolist() == [0, 2, 3, 8, 9]
    np.testing.assert_array_equal(params, patches_for(3, index, builtin)[0])
    np.testing.assert_array_equal(notes, patches_for(3, index, builtin)[1])
    assert audio.shape == (5, manifest.samples) and audio[3, 0] == np.float32(8 / 1000)
    assert dataset.skipped() == (1, 0)
    write_shard(tmp_path, manifest, 1, _shard(manifest, 1, builtin))
    assert dataset.complete
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [
        "shard-00000.npz", "shard-00001.npz", "shard-00002.npz"]  # no temporary file left behind


def test_the_manifest_is_the_agreed_json(builtin: SynthDefinition, tmp_path: Path) -> None:
    manifest = Manifest.for_definition(builtin, seed=5, patches=100, source="render")
    write_manifest(tmp_path, manifest)
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["format"] == 1 and data["synth"] == "builtin" and data["shard_size"] == 64
    assert data["parameters"] == list(builtin.parameter_names)
    assert data["notes"] == [builtin.note.lowest_note, builtin.note.highest_note]
    assert data["definition_sha256"] == definition_sha256(builtin) and data["source"] == "render"
    assert manifest.shard_count == 2 and manifest.shard_indices(1).tolist() == list(range(64, 100))


def test_a_shard_that_does_not_cover_its_patches_is_refused(builtin: SynthDefinition, tmp_path: Path) -> None:
    manifest = Manifest.for_definition(builtin, seed=3, patches=10, source="render", shard_size=4)
    write_manifest(tmp_path, manifest)
    with pytest.raises(ValueError, match="not exactly patches 4..7"):
        write_shard(tmp_path, manifest, 1, _shard(manifest, 0, builtin))
    assert not shard_path(tmp_path, 1).exists()


def test_a_data_set_of_another_definition_is_refused_naming_both(builtin: SynthDefinition, tmp_path: Path) -> None:
    manifest = Manifest.for_definition(builtin, seed=3, patches=4, source="render")
    write_manifest(tmp_path, manifest)
    nekobi = find_definition("nekobi")
    with pytest.raises(DatasetError, match=r"synth 'builtin' \(definition sha256 [0-9a-f]{12}\.\.\.\), not 'nekobi'"):
        open_dataset(tmp_path, nekobi)
    with pytest.raises(DatasetError, match=f"{definition_sha256(builtin)[:12]}.*{definition_sha256(nekobi)[:12]}"):
        write_manifest(tmp_path, Manifest.for_definition(nekobi, seed=3, patches=4, source="render"))
    assert read_manifest(tmp_path) == manifest  # nothing overwritten


def test_resuming_with_other_options_is_refused(builtin: SynthDefinition, tmp_path: Path) -> None:
    write_manifest(tmp_path, Manifest.for_definition(builtin, seed=3, patches=4, source="render"))
    with pytest.raises(DatasetError, match="seed 3 there, 4 asked; patches 4 there, 5 asked"):
        write_manifest(tmp_path, Manifest.for_definition(builtin, seed=4, patches=5, source="render"))


def test_a_folder_that_is_not_a_data_set_is_refused(builtin: SynthDefinition, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="exists and is not a data set"):
        write_manifest(tmp_path, Manifest.for_definition(builtin, seed=3, patches=4, source="render"))
    with pytest.raises(DatasetError, match="not a data set"):
        open_dataset(tmp_path, builtin)
    (tmp_path / "manifest.json").write_text('{"format": 2}')
    with pytest.raises(DatasetError, match="format 2 is not 1"):
        open_dataset(tmp_path, builtin)


def test_a_damaged_shard_is_named(builtin: SynthDefinition, tmp_path: Path) -> None:
    manifest = Manifest.for_definition(builtin, seed=3, patches=4, source="render")
    write_manifest(tmp_path, manifest)
    shard_path(tmp_path, 0).write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="shard-00000.npz: cannot read the shard"):
        open_dataset(tmp_path, builtin).load_all()
