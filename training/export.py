"""Export a trained agent to a model folder: the observer, the policy (and the one-shot head) as ONNX.

What a model folder holds, and its metadata.json, are :mod:`synthmatch.model_folder`'s; this module writes the
networks into one. Graphs come from the torch.export-based exporter (``dynamo=True``, which needs the ``onnx``
and ``onnxscript`` packages), opset :data:`OPSET`, the batch axis dynamic; the same weights always give the same
bytes. Every export is checked against torch on random inputs before the metadata, written last and once,
makes the folder a model.
"""

from __future__ import annotations

import argparse
import copy
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from synthmatch.agent import OnnxAgent, open_session
from synthmatch.atomic_file import replacing
from synthmatch.definitions import SynthDefinition, find_definition
from synthmatch.distances import param_mae
from synthmatch.features import FeatureSettings
from synthmatch.matching import match_with_agent
from synthmatch.model_folder import (
    NETWORK_FILES,
    ModelMetadata,
    describe_model,
    open_model_folder,
    write_metadata,
)
from synthmatch.training.environment import DEFAULT_MAX_STEP, MatchTask
from synthmatch.training.networks import NetworkConfig, OneShotRegressor, Policy, build_observer

#: ONNX opset of the exported graphs (onnxruntime >= 1.16 runs it).
OPSET = 18
#: Largest difference between onnxruntime and torch outputs that an export accepts.
AGREEMENT_ATOL = 1e-4
#: Seed of the held-out targets on which an export measures its own model (training never draws this stream).
EVALUATION_SEED = 9_000_001
EVALUATION_TARGETS = 64


def export_model(
    observer: nn.Module, policy: nn.Module, oneshot: nn.Module | None, metadata: Mapping[str, Any], out_dir: Path
) -> Path:
    """Write the networks and ``metadata`` (from :func:`~synthmatch.model_folder.describe_model`) to ``out_dir``.

    ``oneshot`` is None exactly when the metadata names no one-shot head. Returns ``out_dir``.
    """
    checked = export_networks(observer, policy, oneshot, metadata, out_dir)
    write_metadata(checked.folder, metadata)
    return checked.folder


def export_networks(
    observer: nn.Module, policy: nn.Module, oneshot: nn.Module | None, metadata: Mapping[str, Any], out_dir: Path
) -> ModelMetadata:
    """Write the networks as ONNX to ``out_dir``, which is no model until ``metadata`` is written; its check of it.

    The modules are copied to the CPU in eval mode, so the callers' stay as they were.
    """
    checked = open_model_folder(out_dir, metadata)
    if (oneshot is None) != (checked.files["oneshot"] is None):
        raise ValueError("the metadata must name a one-shot head exactly when one is exported (describe_model)")
    mel = torch.zeros(2, checked.features.n_mels, checked.frames)
    params = torch.zeros(2, len(checked.parameter_names))
    # Distinct tensors: torch.export would otherwise take one input for both and drop "current" from the graph.
    folder = checked.folder
    export_onnx(observer, (mel, mel.clone()), ("target", "current"), "embedding", folder / NETWORK_FILES["observer"])
    with torch.no_grad():
        embedding = cpu_copy(observer)(mel, mel)
    export_onnx(policy, (embedding, params), ("embedding", "params"), "action", folder / NETWORK_FILES["policy"])
    if oneshot is not None:
        export_oneshot(oneshot, checked)
    return checked


def export_oneshot(oneshot: nn.Module, metadata: ModelMetadata) -> Path:
    """Write a one-shot head that listens as the model of ``metadata`` does into its folder; returns the file."""
    path = metadata.folder / NETWORK_FILES["oneshot"]
    export_onnx(oneshot, (torch.zeros(2, metadata.features.n_mels, metadata.frames),), ("target",), "params", path)
    return path


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
    with replacing(path) as temporary, warnings.catch_warnings():
        # torch's own deprecations inside the exporter, and a note on axis names
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message="# The axis name", category=UserWarning)
        torch.onnx.export(
            module, example, temporary, dynamo=True, input_names=list(input_names), output_names=[output_name],
            dynamic_shapes=tuple({0: batch} for _ in example), opset_version=OPSET, external_data=False,
            optimize=True, verbose=False,
        )
        check_agreement(module, temporary, example, input_names, output_name)


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
    metadata = describe_model(definition, features, networks.to_dict(), DEFAULT_MAX_STEP,
                              training={"untrained": True, "seed": seed}, oneshot=oneshot)
    return export_model(observer, policy, head, metadata, out_dir)


def measure_model(
    metadata: ModelMetadata, definition: SynthDefinition, targets: int = EVALUATION_TARGETS, steps: int = 32,
    seed: int = EVALUATION_SEED,
) -> dict[str, Any]:
    """The exported agent of ``metadata`` on ``targets`` held-out episodes, matching from the default patch with its
    own steps only (no polish: the networks are what is measured).

    Its networks must be written, its metadata.json need not be yet. The targets are drawn as training draws them
    (audible random patches at notes across the playable range), from the random stream ``[seed, i]`` that
    training never uses. Returns the median and interquartile range of the start and final primary distance, the
    success rate and the median parameter MAE.
    """
    metadata.check_fits(definition)
    task = MatchTask(definition)
    agent = OnnxAgent(metadata)
    episodes = task.start([np.random.default_rng([seed, i]) for i in range(targets)], {"start": "default"})
    audio = task.render(episodes.target_params, episodes.notes)
    results = [
        match_with_agent(task.synth, agent, audio[i], int(episodes.notes[i]), steps, polish=False)
        for i in range(targets)
    ]  # the networks alone, no polish: comparable with every export before the polish existed
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
    from synthmatch.training.training_run import CONFIG_FILE, plan, renders_in_process

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
    progress = {key: state[key] for key in ("seconds", "env_steps", "updates", "stages", "done")}
    complete = set(plan(config, renders_in_process(definition))) <= set(state["done"])
    training = {**config.to_dict(), **progress, "complete": complete}
    return TrainedRun(definition, features, config.networks, float(state["max_step"]), config.episode_steps,
                      observer, policy, training, dict(state["evaluation"]))


def run_export(args: argparse.Namespace) -> int:
    """`synthmatch export RUN_DIR --out MODEL_DIR`: export the run's newest networks and measure the result."""
    run = load_run(args.run_dir)
    metadata = describe_model(run.definition, run.features, run.networks.to_dict(), run.max_step, run.training)
    written = export_networks(run.observer, run.policy, None, metadata, args.out)
    figures = None
    if run.definition.kind != "external":  # matching needs renders; an external synth is measured live
        figures = measure_model(written, run.definition, targets=EVALUATION_TARGETS, steps=run.episode_steps)
    evaluation = {"training": run.evaluation, "export": figures}
    out_dir = write_metadata(written.folder, {**metadata, "evaluation": evaluation}).folder
    size_mb = sum(path.stat().st_size for path in out_dir.iterdir()) / 1e6
    if not run.training["complete"]:
        print(f"note: {args.run_dir} has not finished (done: {', '.join(run.training['done']) or 'nothing'}); "
              "this exports its newest checkpoint")
    if figures is None:
        print(f"exported {args.run_dir} to {out_dir} ({size_mb:.1f} MB): {run.definition.name} cannot render "
              f"in-process, so the export is not measured by matching; action MSE on held-out pairs of recordings "
              f"{run.evaluation.get('action_mse_held_out', float('nan')):.3f}")
        return 0
    print(f"exported {args.run_dir} to {out_dir} ({size_mb:.1f} MB): on {figures['targets']} held-out targets the "
          f"median distance goes {figures['distance_start_median']:.3f} -> {figures['distance_median']:.3f} in "
          f"{figures['steps']} steps, success {100 * figures['success_rate']:.0f}%")
    return 0
