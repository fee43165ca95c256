"""The exported agent on onnxruntime: a model folder's metadata, checked against a synth, and its networks.

A model folder (``models/NAME/`` or any folder written by ``synthmatch export``) holds ``observer.onnx``,
``policy.onnx``, optionally ``oneshot.onnx``, and ``metadata.json`` naming the synth definition (name, hash,
parameter names), the feature settings and the step size it was trained with. Loading checks that metadata
against the definition in use, so a model never drives a synth it was not trained for. Live wing: numpy and
onnxruntime only, never torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from synthmatch.definitions import SynthDefinition
from synthmatch.features import FeatureSettings, observe_mel

#: Version of the model folder format that this code reads and ``synthmatch export`` writes.
MODEL_FORMAT = 1
METADATA_FILE = "metadata.json"
#: Keys that metadata.json must have (contract 1 in the docs of synthmatch.training.export).
METADATA_KEYS = (
    "format", "synth", "features", "mel_ceiling_db", "render_samples", "max_step", "networks", "training",
    "evaluation", "files", "created", "synthmatch_version",
)
HOW_TO_EXPORT = "train one with `synthmatch train --synth {name} --out RUN` and `synthmatch export RUN --out DIR`"

Mel = npt.NDArray[np.float32]


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
        if data["format"] != MODEL_FORMAT:
            raise ModelFolderError(
                f"{where}: format {data['format']!r} is not {MODEL_FORMAT}, the one this synthmatch "
                f"reads; export the model again with this version"
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
                       for role in ("observer", "policy", "oneshot")},
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


def load_metadata(model_dir: str | Path) -> ModelMetadata:
    """Read and check ``model_dir/metadata.json``; FileNotFoundError or ModelFolderError name the problem."""
    folder = Path(model_dir)
    where = folder / METADATA_FILE
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such model folder; give a folder written by `synthmatch export`")
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{where}: missing; {folder} is not a model folder written by `synthmatch export`"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFolderError(f"{where}: unreadable ({err}); export the model again") from None
    if not isinstance(data, dict):
        raise ModelFolderError(f"{where}: must hold a JSON object; export the model again")
    return ModelMetadata.from_dict(data, folder)


def default_model_dir(definition: SynthDefinition) -> Path:
    """The shipped model folder for ``definition``; FileNotFoundError says how to make one when there is none."""
    from synthmatch.models import shipped_model_dir

    try:
        return shipped_model_dir(definition.name)
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"{err}; pass --model DIR, or {HOW_TO_EXPORT.format(name=definition.name)}"
        ) from None


def open_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime CPU session for one network; ``threads`` intra-op threads (1 keeps a live daemon predictable)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for bad files
        raise ModelFolderError(f"{path}: onnxruntime cannot load it ({err}); export the model again") from None


class OnnxModel:
    """What every exported network shares: its checked metadata and the front end it listens with."""

    def __init__(self, metadata: ModelMetadata, threads: int = 1) -> None:
        self.metadata = metadata
        self.features = metadata.features
        self.mel_ceiling_db = metadata.mel_ceiling_db
        self.threads = threads

    @classmethod
    def load(cls, model_dir: str | Path, definition: SynthDefinition, threads: int = 1) -> Self:
        """The model in ``model_dir``, checked to fit ``definition`` (ModelMismatch says what differs)."""
        metadata = load_metadata(model_dir)
        metadata.check_fits(definition)
        return cls(metadata, threads)

    def observe(self, audio: npt.NDArray[np.floating]) -> Mel:
        """What the network hears of audio[B, N]: log-mel dB [B, n_mels, frames], clipped as in training."""
        return observe_mel(audio, self.features, self.mel_ceiling_db)


class OnnxAgent(OnnxModel):
    """Observer and policy on onnxruntime: (target mel, current mel, params) -> step [B, P] in [-1, 1].

    Build it with :meth:`load`. Observe sounds with :meth:`observe` and move each parameter by
    ``max_step * action``, exactly as in training.
    """

    def __init__(self, metadata: ModelMetadata, threads: int = 1) -> None:
        super().__init__(metadata, threads)
        self.max_step = metadata.max_step
        self.parameter_count = len(metadata.parameter_names)
        self._observer = open_session(metadata.path("observer"), threads)
        self._policy = open_session(metadata.path("policy"), threads)

    def act(self, target_mel: Mel, current_mel: Mel, params: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
        """The deterministic step: mels [B, n_mels, frames] dB, params [B, P] normalised -> action [B, P] in [-1, 1]."""
        (embedding,) = self._observer.run(
            ["embedding"],
            {"target": np.asarray(target_mel, np.float32), "current": np.asarray(current_mel, np.float32)},
        )
        (action,) = self._policy.run(["action"], {"embedding": embedding, "params": np.asarray(params, np.float32)})
        return np.asarray(action, dtype=np.float32)


class OnnxOneShot(OnnxModel):
    """The one-shot regressor on onnxruntime: target mel [B, n_mels, frames] -> patch [B, P] in [0, 1].

    :meth:`load` raises FileNotFoundError when the model folder has no one-shot network.
    """

    def __init__(self, metadata: ModelMetadata, threads: int = 1) -> None:
        super().__init__(metadata, threads)
        self._session = open_session(metadata.path("oneshot"), threads)

    def predict(self, target_mel: Mel) -> npt.NDArray[np.float32]:
        """The predicted patch [B, P], normalised [0, 1] (not yet quantised)."""
        (params,) = self._session.run(["params"], {"target": np.asarray(target_mel, np.float32)})
        return np.asarray(params, dtype=np.float32)
