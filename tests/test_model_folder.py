"""The model folder: written once its networks are there, read back as written, shipped folders still read."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from synthmatch.definitions import SynthDefinition, find_definition
from synthmatch.features import FeatureSettings
from synthmatch.model_folder import (
    METADATA_FILE,
    MODEL_FORMAT,
    NETWORK_FILES,
    ModelFolderError,
    add_network,
    describe_model,
    load_metadata,
    open_model_folder,
    write_metadata,
)
from synthmatch.models import shipped_model_dir

NETWORKS = {"observer": "cnn", "embed_dim": 32}


@pytest.fixture
def builtin() -> SynthDefinition:
    return find_definition("builtin")


def test_describe_and_write_give_a_folder_that_reads_back_and_fits(builtin: SynthDefinition, tmp_path: Path) -> None:
    metadata = describe_model(builtin, FeatureSettings(), NETWORKS, 0.05, training={"seconds": 2.0})
    checked = open_model_folder(tmp_path / "model", metadata)
    for role in ("observer", "policy"):
        (checked.folder / NETWORK_FILES[role]).write_bytes(b"onnx")
    write_metadata(checked.folder, metadata)
    loaded = load_metadata(tmp_path / "model")
    loaded.check_fits(builtin)
    assert loaded.max_step == 0.05 and loaded.raw["training"] == {"seconds": 2.0}
    assert loaded.raw["networks"] == NETWORKS and loaded.files["oneshot"] is None


def test_metadata_waits_for_its_networks_and_drops_a_stale_head(builtin: SynthDefinition, tmp_path: Path) -> None:
    metadata = describe_model(builtin, FeatureSettings(), NETWORKS, 0.1)
    folder = open_model_folder(tmp_path, metadata).folder
    (folder / NETWORK_FILES["observer"]).write_bytes(b"onnx")
    (folder / NETWORK_FILES["oneshot"]).write_bytes(b"stale")
    with pytest.raises(FileNotFoundError, match="policy.onnx: missing"):
        write_metadata(folder, metadata)
    assert not (folder / METADATA_FILE).exists()
    (folder / NETWORK_FILES["policy"]).write_bytes(b"onnx")
    write_metadata(folder, metadata)
    assert (folder / METADATA_FILE).is_file() and not (folder / NETWORK_FILES["oneshot"]).exists()


def test_opening_a_folder_again_unmakes_the_model_until_written(builtin: SynthDefinition, tmp_path: Path) -> None:
    metadata = describe_model(builtin, FeatureSettings(), NETWORKS, 0.1)
    for role in ("observer", "policy"):
        (tmp_path / NETWORK_FILES[role]).write_bytes(b"onnx")
    write_metadata(tmp_path, metadata)
    open_model_folder(tmp_path, metadata)
    with pytest.raises(FileNotFoundError, match="metadata.json: missing"):
        load_metadata(tmp_path)


def test_add_network_records_the_file_and_its_training(builtin: SynthDefinition, tmp_path: Path) -> None:
    metadata = describe_model(builtin, FeatureSettings(), NETWORKS, 0.1, training={"seed": 3})
    for role in ("observer", "policy"):
        (tmp_path / NETWORK_FILES[role]).write_bytes(b"onnx")
    write_metadata(tmp_path, metadata)
    (tmp_path / NETWORK_FILES["oneshot"]).write_bytes(b"onnx")
    added = add_network(tmp_path, "oneshot", {"steps": 20})
    assert added.path("oneshot") == tmp_path / "oneshot.onnx"
    assert load_metadata(tmp_path).raw["training"] == {"seed": 3, "oneshot": {"steps": 20}}


@pytest.mark.parametrize("name", ["builtin", "nekobi"])
def test_the_shipped_models_still_read_and_fit_their_definitions(name: str) -> None:
    metadata = load_metadata(shipped_model_dir(name))
    metadata.check_fits(find_definition(name))
    for role in ("observer", "policy"):
        assert metadata.path(role).is_file()


def test_a_new_model_is_marked_as_trained_at_equal_loudness(builtin: SynthDefinition, tmp_path: Path) -> None:
    metadata = describe_model(builtin, FeatureSettings(), NETWORKS, 0.05)
    assert metadata["format"] == MODEL_FORMAT == 2
    checked = open_model_folder(tmp_path, metadata)
    assert checked.equal_loudness and checked.warning() is None


def test_a_model_from_before_equal_loudness_loads_with_a_warning_to_retrain(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "nekobi"
    shutil.copytree(shipped_model_dir("nekobi"), folder)  # a copy: the shipped folder is never written
    raw = json.loads((folder / METADATA_FILE).read_text())
    (folder / METADATA_FILE).write_text(json.dumps({**raw, "format": 1}))  # as exported before December 2026
    with caplog.at_level(logging.WARNING, logger="synthmatch.model_folder"):
        metadata = load_metadata(folder)
    metadata.check_fits(find_definition("nekobi"))
    assert not metadata.equal_loudness
    assert [record.getMessage() for record in caplog.records] == [
        f"model {folder} (format 1): trained before equal loudness (it heard each sound at its own level); "
        "it still matches: compare a retrained model with it (compare_evals) before replacing it"
    ]


def test_a_format_from_the_future_is_refused(builtin: SynthDefinition, tmp_path: Path) -> None:
    metadata = {**describe_model(builtin, FeatureSettings(), NETWORKS, 0.05), "format": 3}
    with pytest.raises(ModelFolderError, match=r"format 3 is not one this synthmatch reads \(1, 2\)"):
        open_model_folder(tmp_path, metadata)
