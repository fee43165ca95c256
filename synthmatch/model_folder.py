"""The model folder, the contract between the wings: what it holds, how it is checked, read and written.

A model folder (``models/NAME/`` or any folder written by ``synthmatch export``) holds:

================= ==========================================================================================
file              content
================= ==========================================================================================
observer.onnx     inputs ``target``, ``current`` float32 [B, n_mels, frames] (log-mel dB, clipped to
                  [floor_db, mel_ceiling_db]) -> ``embedding`` [B, E]
policy.onnx       inputs ``embedding`` [B, E], ``params`` [B, P] -> ``action`` [B, P] in [-1, 1] (tanh of the mean)
oneshot.onnx      optional: input ``target`` [B, n_mels, frames] -> ``params`` [B, P] in [0, 1]
metadata.json     ``format``, ``synth`` (name, sha256, parameters), ``features``, ``mel_ceiling_db``,
                  ``render_samples``, ``max_step``, ``networks``, ``training``, ``evaluation``, ``files``
                  (role -> file name, null for an absent one-shot head), ``created``, ``synthmatch_version``
relay/            optional: a second agent's model folder (another training run's observer, policy, metadata),
                  checked against the synth as the first; it plays the last half of the agent's steps of
                  every match from the best patch so far (:data:`RELAY_FOLDER`)
starts.json       optional: the start bank, patches the agent may start from (:mod:`synthmatch.start_bank`)
================= ==========================================================================================

Format history: 1, the observer heard log-mels at the sound's own level; 2 (since synthmatch.loudness), at equal
loudness (:func:`synthmatch.features.observe_mel`). A format 1 model still loads, with a warning saying so.

The batch axis of every network is dynamic. This module is the one that reads and writes metadata.json (core:
no torch, no onnxruntime). Training writes the networks first (``synthmatch.training.export``), then the
metadata, written last and once, makes the folder a model; loading checks it against the synth definition in
use, so a model never drives a synth it was not trained for.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthmatch import __version__
from synthmatch.atomic_file import write_atomically
from synthmatch.definitions import SynthDefinition
from synthmatch.features import MEL_CEILING_DB, FeatureSettings
from synthmatch.json_file import read_json_object

log = logging.getLogger(__name__)

#: Version of the model folder format that ``synthmatch export`` writes: 2, observed at equal loudness.
MODEL_FORMAT = 2
#: Formats this code reads; the older ones with a warning (:data:`OLD_FORMAT_WARNINGS`).
READABLE_FORMATS = (1, 2)
#: Format -> what is wrong with a model of it, logged when one is loaded.
OLD_FORMAT_WARNINGS = {
    1: ("trained before equal loudness (it heard each sound at its own level); it still matches: compare a "
        "retrained model with it (compare_evals) before replacing it"),
}
METADATA_FILE = "metadata.json"
#: Subfolder of a model folder that may hold a second agent (a model folder of its own, from another training
#: run): it takes over from the first agent's best patch halfway through a match (see ``match_with_agent``).
RELAY_FOLDER = "relay"
#: The start bank's file (:mod:`synthmatch.start_bank`); built from one agent's matches, so an export removes it.
STARTS_FILE = "starts.json"
#: Keys that metadata.json must have (the table above).
METADATA_KEYS = (
    "format", "synth", "features", "mel_ceiling_db", "render_samples", "max_step", "networks", "training",
    "evaluation", "files", "created", "synthmatch_version",
)
#: Each network's role -> its file name in a model folder; observer and policy are required.
NETWORK_FILES = {"observer": "observer.onnx", "policy": "policy.onnx", "oneshot": "oneshot.onnx"}
AGENT_ROLES = ("observer", "policy")
HOW_TO_EXPORT = "train one with `synthmatch train --synth {name} --out RUN` and `synthmatch export RUN --out DIR`"


class ModelMismatch(ValueError):
    """A model folder was trained for another synth or definition than the one in use; the message says what differs."""


class ModelFolderError(ValueError):
    """A model folder is incomplete or its metadata.json is malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class ModelMetadata:
    """What metadata.json says about a model: the synth it fits, its front end, step size and file names."""

    folder: Path
    synth_name: str
    synth_sha256: str
    parameter_names: tuple[str, ...]
    features: FeatureSettings
    mel_ceiling_db: float
    render_samples: int
    max_step: float
    files: Mapping[str, str | None]
    """Role ("observer", "policy", "oneshot") -> file name inside ``folder``, None for an absent one-shot head."""
    raw: Mapping[str, Any]
    """The whole parsed metadata.json, training configuration and evaluation figures included."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], folder: Path) -> ModelMetadata:
        """Check the parsed metadata of the model in ``folder``; a ModelFolderError names the bad key."""
        where = folder / METADATA_FILE
        missing = [key for key in METADATA_KEYS if key not in data]
        if missing:
            raise ModelFolderError(f"{where}: missing key(s) {', '.join(missing)}; export the model again")
        if data["format"] not in READABLE_FORMATS:
            raise ModelFolderError(
                f"{where}: format {data['format']!r} is not one this synthmatch reads "
                f"({', '.join(map(str, READABLE_FORMATS))}); export the model again with this version"
            )
        synth, files = data["synth"], data["files"]
        try:
            features = FeatureSettings.from_dict(dict(data["features"]))
            metadata = cls(
                folder=folder,
                synth_name=str(synth["name"]),
                synth_sha256=str(synth["sha256"]),
                parameter_names=tuple(str(name) for name in synth["parameters"]),
                features=features,
                mel_ceiling_db=float(data["mel_ceiling_db"]),
                render_samples=int(data["render_samples"]),
                max_step=float(data["max_step"]),
                files={role: None if files.get(role) is None else str(files[role])
                       for role in NETWORK_FILES},
                raw=data,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            problem = f"{type(err).__name__}: {err}"
            raise ModelFolderError(f"{where}: malformed ({problem}); export the model again") from None
        if not 0.0 < metadata.max_step <= 1.0 or metadata.render_samples <= 0:
            raise ModelFolderError(
                f"{where}: max_step {metadata.max_step} must be in (0, 1] and render_samples "
                f"{metadata.render_samples} > 0; export the model again"
            )
        if metadata.files["observer"] is None or metadata.files["policy"] is None:
            raise ModelFolderError(f"{where}: 'files' must name an observer and a policy; export the model again")
        return metadata

    @property
    def equal_loudness(self) -> bool:
        """Whether the model was trained hearing every sound at equal loudness (format 2 on), as observe_mel does."""
        return bool(self.raw["format"] >= 2)

    def warning(self) -> str | None:
        """What is wrong with a model of an older format (it still loads), or None."""
        problem = OLD_FORMAT_WARNINGS.get(self.raw["format"])
        return None if problem is None else f"model {self.folder} (format {self.raw['format']}): {problem}"

    @property
    def frames(self) -> int:
        """Frames of the log-mels the observer takes."""
        return self.features.frames(self.render_samples)

    def path(self, role: str) -> Path:
        """The file of ``role`` ("observer", "policy" or "oneshot"); FileNotFoundError if it is absent."""
        name = self.files.get(role)
        if name is None:
            raise FileNotFoundError(
                f"{self.folder}: this model has no {role} network; export one from a run that trained it"
            )
        path = self.folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; the model folder is incomplete, export the model again")
        return path

    def check_fits(self, definition: SynthDefinition) -> None:
        """Raise ModelMismatch unless the model was trained for ``definition``: name, hash, parameters, rate."""
        where = f"model {self.folder} (trained for {self.synth_name!r})"
        fix = f"use a model trained for {definition.name!r}, or {HOW_TO_EXPORT.format(name=definition.name)}"
        if self.synth_name != definition.name:
            raise ModelMismatch(f"{where} does not fit synth {definition.name!r}; {fix}")
        if self.parameter_names != definition.parameter_names:
            ours, theirs = set(self.parameter_names), set(definition.parameter_names)
            change = (f"the model lacks {sorted(theirs - ours)}, the definition lacks {sorted(ours - theirs)}"
                      if ours != theirs else "the order differs")
            raise ModelMismatch(f"{where}: its parameters differ from {definition.source}: {change}; {fix}")
        if definition.sha256 and self.synth_sha256 != definition.sha256:
            raise ModelMismatch(
                f"{where}: the definition changed since training (sha256 {self.synth_sha256[:12]}... in the "
                f"model, {definition.sha256[:12]}... in {definition.source}); restore that definition, or {fix}"
            )
        rate = definition.note.sample_rate
        if self.features.sample_rate != rate or self.render_samples != definition.note.render_samples:
            raise ModelMismatch(
                f"{where}: it listens at {self.features.sample_rate} Hz for {self.render_samples} samples, "
                f"{definition.name} renders at {rate} Hz for {definition.note.render_samples}; {fix}"
            )


def load_relay_metadata(first: ModelMetadata, definition: SynthDefinition) -> ModelMetadata | None:
    """The checked metadata of ``first``'s relay (``RELAY_FOLDER``), None when its folder has none.

    A relay must fit ``definition`` and hear as the first agent does (the same features and ceiling: the live view
    pairs its mels with the target the first one heard); a ``relay/`` without metadata (an export cut short) is an
    error, not silently ignored.
    """
    folder = first.folder / RELAY_FOLDER
    if not folder.is_dir():
        return None
    if not (folder / METADATA_FILE).is_file():
        raise ModelFolderError(
            f"{folder}: a relay folder without {METADATA_FILE}; export the relay again "
            f"(synthmatch export RUN --out {folder}) or remove the folder"
        )
    relay = load_metadata(folder)
    relay.check_fits(definition)
    if relay.features != first.features or relay.mel_ceiling_db != first.mel_ceiling_db:
        raise ModelMismatch(
            f"relay {folder} hears with other features than {first.folder} ({relay.features}, ceiling "
            f"{relay.mel_ceiling_db} dB against {first.features}, {first.mel_ceiling_db} dB); export a relay "
            "trained with the same features"
        )
    return relay


def load_metadata(model_dir: str | Path) -> ModelMetadata:
    """Read and check ``model_dir/metadata.json``; FileNotFoundError or ModelFolderError name the problem."""
    folder = Path(model_dir)
    where = folder / METADATA_FILE
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such model folder; give a folder written by `synthmatch export`")
    data = read_json_object(
        where, ModelFolderError, missing_error=FileNotFoundError,
        missing=f"{where}: missing; {folder} is not a model folder written by `synthmatch export`",
        unreadable=lambda err: f"{where}: unreadable ({err}); export the model again",
        not_object=f"{where}: must hold a JSON object; export the model again",
    )
    metadata = ModelMetadata.from_dict(data, folder)
    warning = metadata.warning()
    if warning is not None:
        _warn_once(warning)
    return metadata


@functools.cache
def _warn_once(warning: str) -> None:
    """Log ``warning`` the first time only: a command may read one model's metadata more than once."""
    log.warning("%s", warning)




def describe_model(
    definition: SynthDefinition,
    features: FeatureSettings,
    networks: Mapping[str, Any],
    max_step: float,
    training: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    oneshot: bool = False,
) -> dict[str, Any]:
    """The whole metadata.json of an agent for ``definition`` (the table above), with a one-shot head if ``oneshot``."""
    present = {*AGENT_ROLES, *(["oneshot"] if oneshot else [])}
    return {
        "format": MODEL_FORMAT,
        "synth": {"name": definition.name, "sha256": definition.sha256, "parameters": list(definition.parameter_names)},
        "features": features.to_dict(),
        "mel_ceiling_db": MEL_CEILING_DB,
        "render_samples": definition.note.render_samples,
        "max_step": float(max_step),
        "networks": dict(networks),
        "training": dict(training or {}),
        "evaluation": dict(evaluation or {}),
        "files": {role: name if role in present else None for role, name in NETWORK_FILES.items()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "synthmatch_version": __version__,
    }


def open_model_folder(out_dir: Path, metadata: Mapping[str, Any]) -> ModelMetadata:
    """Check ``metadata``, make ``out_dir``, remove its old metadata.json (no model until :func:`write_metadata`)
    and its start bank (built from the matches of the agent it replaces; for a relay, the first agent's bank)."""
    out_dir = Path(out_dir)
    checked = ModelMetadata.from_dict(metadata, out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: exists and is not a folder; give a folder for the model")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / METADATA_FILE).unlink(missing_ok=True)
    (out_dir / STARTS_FILE).unlink(missing_ok=True)
    if out_dir.name == RELAY_FOLDER and (out_dir.parent / METADATA_FILE).is_file():  # built with the old relay
        (out_dir.parent / STARTS_FILE).unlink(missing_ok=True)
    return checked


def write_metadata(folder: Path, metadata: Mapping[str, Any]) -> ModelMetadata:
    """Write ``metadata`` as ``folder``'s metadata.json, atomically, once every network it names is there.

    A network file the metadata does not name (a one-shot head from an earlier export) is removed.
    """
    checked = ModelMetadata.from_dict(metadata, Path(folder))
    for role, name in NETWORK_FILES.items():
        if checked.files[role] is None:
            (checked.folder / name).unlink(missing_ok=True)
        else:
            checked.path(role)  # FileNotFoundError for a network not written yet
    write_atomically(checked.folder / METADATA_FILE, json.dumps(metadata, indent=2) + "\n")
    return checked


def add_network(folder: Path, role: str, training: Mapping[str, Any]) -> ModelMetadata:
    """Record the network ``role``, already written as its file in ``folder``, and how it was trained (``training``)."""
    raw = load_metadata(folder).raw
    return write_metadata(folder, {
        **raw,
        "files": {**raw["files"], role: NETWORK_FILES[role]},
        "training": {**raw["training"], role: dict(training)},
    })
