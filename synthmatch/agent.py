"""The exported agent on onnxruntime: a model folder's networks, loaded once checked against the synth in use.

What a model folder holds and how its metadata.json is checked is :mod:`synthmatch.model_folder`'s job; this
module runs the networks. Core: numpy and onnxruntime only, never torch.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Self

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from synthmatch.definitions import SynthDefinition
from synthmatch.features import observe_mel
from synthmatch.model_folder import (
    HOW_TO_EXPORT,
    ModelFolderError,
    ModelMetadata,
    load_metadata,
    load_relay_metadata,
)
from synthmatch.start_bank import bank_for, load_start_bank, starts_fit

Mel = npt.NDArray[np.float32]


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

    def observe(self, audio: npt.NDArray[np.floating], *, at_equal_loudness: bool = False) -> Mel:
        """What the network hears of audio[B, N]: log-mel dB [B, n_mels, frames], clipped as in training
        (``at_equal_loudness``: see :func:`~synthmatch.features.observe_mel`)."""
        return observe_mel(audio, self.features, self.mel_ceiling_db, at_equal_loudness=at_equal_loudness)


class OnnxAgent(OnnxModel):
    """Observer and policy on onnxruntime: (target mel, current mel, params) -> step [B, P] in [-1, 1].

    Build it with :meth:`load`. Observe sounds with :meth:`observe` and move each parameter by
    ``max_step * action``, exactly as in training. :attr:`relay` is the second agent of the folder, if it has one.
    """

    def __init__(self, metadata: ModelMetadata, threads: int = 1) -> None:
        super().__init__(metadata, threads)
        self.max_step = metadata.max_step
        self.parameter_count = len(metadata.parameter_names)
        self._observer = open_session(metadata.path("observer"), threads)
        self._policy = open_session(metadata.path("policy"), threads)
        self.relay: OnnxAgent | None = None
        """The agent that takes over halfway (the folder's ``relay/``), None for a folder without one."""
        self.starts: npt.NDArray[np.float64] | None = None
        """The folder's start bank [K, P] (:mod:`synthmatch.start_bank`), None for a folder without one."""
        self.oneshot: OnnxOneShot | None = None
        """The folder's one-shot regressor where it has a start bank too: its guess is the first start
        (:meth:`start_patches`); None otherwise."""

    @classmethod
    def load(cls, model_dir: str | Path, definition: SynthDefinition, threads: int = 1, *, starts: bool = True) -> Self:
        """The agent in ``model_dir``, its relay and (unless ``starts`` is False) its start bank where the folder has
        them, checked to fit ``definition``.

        Why a relay: one policy gains for 10 to 16 steps and then circles around a patch of its own; a policy from
        another training run circles elsewhere, so from the first one's best it moves on (docs/evaluation.md).
        """
        agent = super().load(model_dir, definition, threads)
        relay = load_relay_metadata(agent.metadata, definition)
        if relay is not None:
            agent.relay = cls(relay, threads)
        if starts:
            agent.starts = load_start_bank(agent.metadata.folder, definition)
            if agent.starts is not None and agent.metadata.files.get("oneshot") is not None:
                agent.oneshot = _guessing_oneshot(agent.metadata, threads)
        return agent

    def start_patches(self, target_mel: Mel, steps: int) -> npt.NDArray[np.float64] | None:
        """The patches a match of ``steps`` steps hears before the agent's first step [K, P]: the one-shot
        regressor's guess for the target (``target_mel`` [1, n_mels, frames]), then the start bank, where they fit
        (:func:`~synthmatch.start_bank.bank_for`: the bank alone where the guess would not); None without a bank.

        Why the guess: on patches of the synth itself it is often the closest start by far (one render), and on
        other sounds it costs that render (docs/evaluation.md, "The one-shot guess as a start").
        """
        bank = bank_for(self.starts, steps)
        if bank is None or self.oneshot is None or not starts_fit(len(bank) + 1, steps):
            return bank
        guess = np.clip(self.oneshot.predict(target_mel)[0].astype(np.float64), 0.0, 1.0)
        return np.vstack([guess[None], bank])

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


def _guessing_oneshot(metadata: ModelMetadata, threads: int) -> OnnxOneShot | None:
    """The folder's one-shot network for the agent's first start, None (with a RuntimeWarning naming the fault) where
    its file is missing or unreadable: a broken one-shot network leaves the agent's matches playable, without it."""
    try:
        return OnnxOneShot(metadata, threads)
    except (FileNotFoundError, ModelFolderError) as err:
        warnings.warn(f"{err}; the agent starts without the one-shot guess", RuntimeWarning, stacklevel=3)
        return None
