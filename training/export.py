"""Export a trained agent to a model folder: the observer, the policy (and the one-shot head) as ONNX, plus metadata.

The model folder is the whole contract between the wings (``synthmatch.agent`` reads it with onnxruntime):

================= ==========================================================================================
file              content
================= ==========================================================================================
observer.onnx     inputs ``target``, ``current`` float32 [B, n_mels, frames] (log-mel dB, clipped to
                  [floor_db, mel_ceiling_db]) -> ``embedding`` [B, E]
policy.onnx       inputs ``embedding`` [B, E], ``params`` [B, P] -> ``action`` [B, P] in [-1, 1] (tanh of the mean)
oneshot.onnx      optional: input ``target`` [B, n_mels, frames] -> ``params`` [B, P] in [0, 1]
metadata.json     ``format``, ``synth`` (name, sha256, parameters), ``features``, ``mel_ceiling_db``,
                  ``render_samples``, ``max_step``, ``networks``, ``training``, ``evaluation``, ``files``,
                  ``created``, ``synthmatch_version``
================= ==========================================================================================

The batch axis is dynamic. Graphs come from the torch.export-based exporter (``dynamo=True``, which needs the
``onnx`` and ``onnxscript`` packages), opset :data:`OPSET`; the same weights always give the same bytes. Every
export is checked against torch on random inputs before the metadata, written last, makes the folder a model.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from synthmatch import __version__
from synthmatch.agent import METADATA_FILE, MODEL_FORMAT, ModelMetadata, OnnxAgent, load_metadata, open_session
from synthmatch.definitions import SynthDefinition, find_definition
from synthmatch.distances import param_mae
from synthmatch.features import MEL_CEILING_DB, FeatureSettings
from synthmatch.matching import match_with_agent
from synthmatch.training.environment import DEFAULT_MAX_STEP, MatchTask
from synthmatch.training.networks import NetworkConfig, OneShotRegressor, Policy, build_observer

#: ONNX opset of the exported graphs (onnxruntime >= 1.16 runs it).
OPSET = 18
#: Largest difference between onnxruntime and torch outputs that an export accepts.
AGREEMENT_ATOL = 1e-4
FILES = {"observer": "observer.onnx", "policy": "policy.onnx", "oneshot": "oneshot.onnx"}
#: Seed of the held-out targets on which an export measures its own model (training never draws this stream).
EVALUATION_SEED = 9_000_001
EVALUATION_TARGETS = 64


def model_metadata(
    definition: SynthDefinition,
    features: FeatureSettings,
    networks: NetworkConfig,
    max_step: float = DEFAULT_MAX_STEP,
    training: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The metadata fields a model folder needs from training; :func:`export_model` adds files, time and version."""
    return {
        "synth": {"name": definition.name, "sha256": definition.sha256, "parameters": list(definition.parameter_names)},
        "features": features.to_dict(),
        "mel_ceiling_db": MEL_CEILING_DB,
        "render_samples": definition.note.render_samples,
        "max_step": float(max_step),
        "networks": networks.to_dict(),
        "training": dict(training or {}),
        "evaluation": dict(evaluation or {}),
    }


def export_model(
    observer: nn.Module, policy: nn.Module, oneshot: nn.Module | None, metadata: Mapping[str, Any], out_dir: Path
) -> Path:
    """Write the networks as ONNX and ``metadata`` (see :func:`model_metadata`) to ``out_dir``; no one-shot if None.

    The modules are copied to the CPU in eval mode, so the callers' stay as they were. Returns ``out_dir``.
    """
    out_dir = Path(out_dir)
    complete = {
        **metadata,
        "format": MODEL_FORMAT,
        "files": {role: (None if role == "oneshot" and oneshot is None else name) for role, name in FILES.items()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "synthmatch_version": __version__,
    }
    checked = ModelMetadata.from_dict(complete, out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: exists and is not a folder; give a folder for the model")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / METADATA_FILE).unlink(missing_ok=True)  # the folder is not a model until the metadata is back
    mel = torch.zeros(2, checked.features.n_mels, checked.frames)
    params = torch.zeros(2, len(checked.parameter_names))
    # Distinct tensors: torch.export would otherwise take one input for both and drop "current" from the graph.
    export_onnx(observer, (mel, mel.clone()), ("target", "current"), "embedding", out_dir / FILES["observer"])
    with torch.no_grad():
        embedding = cpu_copy(observer)(mel, mel)
    export_onnx(policy, (embedding, params), ("embedding", "params"), "action", out_dir / FILES["policy"])
    if oneshot is not None:
        export_onnx(oneshot, (mel,), ("target",), "params", out_dir / FILES["oneshot"])
    else:
        (out_dir / FILES["oneshot"]).unlink(missing_ok=True)  # a stale head from an earlier export
    write_json(out_dir / METADATA_FILE, complete)
    return out_dir


def cpu_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` on the CPU in eval mode."""
    return copy.deepcopy(module).cpu().eval()


def export_onnx(
    module: nn.Module, example: tuple[torch.Tensor, ...], input_names: Sequence[str], output_name: str, path: Path
) -> None:
    """Export ``module`` (inputs ``example``, batch axis dynamic) to ``path`` and check onnxruntime agrees with it."""
    module = cpu_copy(module)
    batch = torch.export.Dim("batch", min=1)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # it warns that torchvision's ops are not installed
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(descriptor)
    try:
        with warnings.catch_warnings():  # torch's own deprecations inside the exporter, and a note on axis names
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message="# The axis name", category=UserWarning)
            torch.onnx.export(
                module, example, temporary, dynamo=True, input_names=list(input_names), output_names=[output_name],
                dynamic_shapes=tuple({0: batch} for _ in example), opset_version=OPSET, external_data=False,
                optimize=True, verbose=False,
            )
        check_agreement(module, Path(temporary), example, input_names, output_name)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a model is an ordinary file
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def check_agreement(
    module: nn.Module, path: Path, example: tuple[torch.Tensor, ...], input_names: Sequence[str], output_name: str,
    batch: int = 3, seed: int = 0,
) -> float:
    """Largest |onnxruntime - torch| on random inputs shaped like ``example`` with batch ``batch``.

    Mels are drawn over -80..20 dB, everything else from N(0, 1). A RuntimeError if it exceeds AGREEMENT_ATOL.
    """
    generator = torch.Generator().manual_seed(seed)
    inputs = []
    for tensor in example:
        shape = (batch, *tensor.shape[1:])
        if tensor.dim() == 3:  # a log-mel in dB
            inputs.append(torch.rand(shape, generator=generator) * 100.0 - 80.0)
        else:
            inputs.append(torch.randn(shape, generator=generator))
    with torch.no_grad():
        expected = module(*inputs).numpy()
    feeds = {name: tensor.numpy() for name, tensor in zip(input_names, inputs, strict=True)}
    (actual,) = open_session(path).run([output_name], feeds)
    error = float(np.max(np.abs(actual - expected)))
    if not error <= AGREEMENT_ATOL:
        raise RuntimeError(
            f"{path}: onnxruntime differs from torch by {error:.2e} (> {AGREEMENT_ATOL:.0e}); the exporter "
            f"mistranslated {type(module).__name__}, please report it with torch {torch.__version__}"
        )
    return error


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically (temp file + os.replace)."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(json.dumps(data, indent=2) + "\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def export_untrained_model(
    definition: SynthDefinition,
    out_dir: Path,
    networks: NetworkConfig | None = None,
    seed: int = 0,
    oneshot: bool = True,
) -> Path:
    """A model folder of randomly initialised networks for ``definition``: for tests and benchmarks, not matching."""
    networks = networks or NetworkConfig()
    features = FeatureSettings(sample_rate=definition.note.sample_rate)
    frames = features.frames(definition.note.render_samples)
    count = len(definition.parameters)
    torch.manual_seed(seed)
    observer = build_observer(features, frames, networks)
    policy = Policy(networks.embed_dim, count, networks.hidden)
    head = OneShotRegressor(features, frames, count, networks) if oneshot else None
    training = {"untrained": True, "seed": seed}
    return export_model(observer, policy, head, model_metadata(definition, features, networks, training=training),
                        out_dir)


def measure_model(
    model_dir: Path, definition: SynthDefinition, targets: int = EVALUATION_TARGETS, steps: int = 32,
    seed: int = EVALUATION_SEED,
) -> dict[str, Any]:
    """The exported agent, matching from the default patch, on ``targets`` held-out episodes of the environment.

    The targets are drawn as training draws them (audible random patches at notes across the playable range),
    from the random stream ``[seed, i]`` that training never uses. Returns the median and interquartile range
    of the start and final primary distance, the success rate and the median parameter MAE.
    """
    task = MatchTask(definition)
    agent = OnnxAgent.load(model_dir, definition)
    episodes = task.start([np.random.default_rng([seed, i]) for i in range(targets)], {"start": "default"})
    audio = task.render(episodes.target_params, episodes.notes)
    results = [
        match_with_agent(task.synth, agent, audio[i], int(episodes.notes[i]), steps) for i in range(targets)
    ]
    final = np.array([result.distance for result in results])
    errors = param_mae(np.stack([result.params for result in results]), episodes.target_params)
    return {
        "targets": targets, "steps": steps, "seed": seed, "start": "default",
        "distance_start_median": float(np.median([result.distance_start for result in results])),
        "distance_median": float(np.median(final)),
        "distance_iqr": [float(np.percentile(final, 25)), float(np.percentile(final, 75))],
        "success_threshold": task.success_threshold,
        "success_rate": float(np.mean(final < task.success_threshold)),
        "param_mae_median": float(np.median(errors)),
    }


@dataclass(frozen=True)
class TrainedRun:
    """What export needs from a training run folder: the synth, the networks and what training reported."""

    definition: SynthDefinition
    features: FeatureSettings
    networks: NetworkConfig
    max_step: float
    episode_steps: int
    observer: nn.Module
    policy: Policy
    oneshot: OneShotRegressor | None
    training: dict[str, Any]
    """The run's configuration plus "seconds", "env_steps", "updates", "stages", "done" and "complete"."""
    evaluation: dict[str, Any]
    """The run's newest validation figures."""


def load_run(run_dir: Path) -> TrainedRun:
    """The newest checkpoint of the run in ``run_dir`` (written by ``synthmatch train``), its networks rebuilt.

    Reads config.toml and checkpoints/latest.pt (see :mod:`synthmatch.training.train`); the synth definition
    must be the one the run trained on.
    """
    from synthmatch.training.checkpoints import checkpoint_path, load_checkpoint
    from synthmatch.training.config import load_config
    from synthmatch.training.train import CONFIG_FILE, plan

    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: missing; {run_dir} is not a run folder of `synthmatch train`")
    config = load_config(config_path)
    definition = find_definition(config.synth)
    state = load_checkpoint(run_dir)
    if state is None:
        raise FileNotFoundError(f"{checkpoint_path(run_dir)}: missing; the run has not saved a checkpoint yet")
    if state["definition_sha256"] != definition.sha256:
        raise ValueError(
            f"{run_dir} was trained on another version of {definition.source} (sha256 "
            f"{state['definition_sha256'][:12]}..., now {definition.sha256[:12]}...); restore that file or train again"
        )
    features = FeatureSettings.from_dict(state["features"])
    frames, count = features.frames(definition.note.render_samples), len(definition.parameters)
    observer = build_observer(features, frames, config.networks)
    observer.load_state_dict(state["observer"])
    policy = Policy(config.networks.embed_dim, count, config.networks.hidden)
    policy.load_state_dict(state["policy"])
    oneshot = None
    if state["oneshot"] is not None:
        oneshot = OneShotRegressor(features, frames, count, config.networks)
        oneshot.load_state_dict(state["oneshot"])
    progress = {key: state[key] for key in ("seconds", "env_steps", "updates", "stages", "done")}
    training = {**config.to_dict(), **progress, "complete": set(plan(config)) <= set(state["done"])}
    return TrainedRun(definition, features, config.networks, float(state["max_step"]), config.episode_steps,
                      observer, policy, oneshot, training, dict(state["evaluation"]))


def run_export(args: argparse.Namespace) -> int:
    """`synthmatch export RUN_DIR --out MODEL_DIR`: export the run's newest networks and measure the result."""
    run = load_run(args.run_dir)
    metadata = model_metadata(run.definition, run.features, run.networks, run.max_step, run.training,
                              {"training": run.evaluation})
    out_dir = export_model(run.observer, run.policy, run.oneshot, metadata, args.out)
    figures = measure_model(out_dir, run.definition, targets=EVALUATION_TARGETS, steps=run.episode_steps)
    written = load_metadata(out_dir).raw
    write_json(out_dir / METADATA_FILE, {**written, "evaluation": {**metadata["evaluation"], "export": figures}})
    size_mb = sum(path.stat().st_size for path in out_dir.iterdir()) / 1e6
    if not run.training["complete"]:
        print(f"note: {args.run_dir} has not finished (done: {', '.join(run.training['done']) or 'nothing'}); "
              "this exports its newest checkpoint")
    print(f"exported {args.run_dir} to {out_dir} ({size_mb:.1f} MB): on {figures['targets']} held-out targets the "
          f"median distance goes {figures['distance_start_median']:.3f} -> {figures['distance_median']:.3f} in "
          f"{figures['steps']} steps, success {100 * figures['success_rate']:.0f}%")
    return 0
