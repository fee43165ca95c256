"""The one-shot regressor baseline: learn target sound -> patch directly, supervised, as InverSynth does.

On synthetic targets the patch is known, so no search is needed to train it: draw random patches at random notes,
render them, compute what the observer hears (:func:`synthmatch.features.observe_mel`), and regress the normalised
patch with a mean squared error. Every batch is fresh, so there is no data set and no overfitting to one. The
trained :class:`~synthmatch.training.networks.OneShotRegressor` goes into a model folder as ``oneshot.onnx``:
added to an existing model folder by :func:`attach_oneshot`, which is what this module's command does::

    python -m synthmatch.training.oneshot --model models/builtin --steps 2000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from tqdm import tqdm

from synthmatch.definitions import find_definition
from synthmatch.features import MEL_CEILING_DB, FeatureSettings, observe_mel
from synthmatch.model_folder import add_network, load_metadata
from synthmatch.params import quantise_all
from synthmatch.synths import Synth, open_synth
from synthmatch.training.environment import AUDIBLE_PEAK_DB
from synthmatch.training.export import export_oneshot
from synthmatch.training.networks import NetworkConfig, OneShotRegressor

#: Second seed word of the training batches' stream and of the validation batch's (never the evaluation's).
TRAIN_STREAM = 0x0A5E
VALIDATION_STREAM = 0x0A5F


@dataclass(frozen=True)
class OneShotConfig:
    """How the one-shot regressor is trained."""

    steps: int = 2000
    """Gradient steps, each on a freshly rendered batch."""
    batch_size: int = 64
    """Patches drawn per step (the inaudible ones, peaking below AUDIBLE_PEAK_DB, are dropped)."""
    lr: float = 1e-3
    """Adam learning rate."""
    seed: int = 0
    """Seed of the network's initialisation and of the drawn patches and notes."""
    validation_samples: int = 256
    """Held-out patches on which the MSE is measured before and after training."""
    networks: NetworkConfig = field(default_factory=NetworkConfig)
    """Sizes of the regressor's observer and head."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "validation_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"one-shot {name} must be an int >= 1, got {value!r}")
        if not 0.0 < self.lr < 1.0:
            raise ValueError(f"one-shot lr {self.lr} is outside (0, 1); try 1e-3")


@dataclass
class OneShotTraining:
    """A trained regressor and how its training went."""

    regressor: OneShotRegressor
    losses: list[float]
    """Training MSE of every step (normalised parameters squared)."""
    validation_mse_start: float
    """MSE on the held-out patches before the first step."""
    validation_mse: float
    """MSE on the held-out patches after the last step."""
    seconds: float
    """Wall time of the training, rendering included."""

    def summary(self, config: OneShotConfig) -> dict[str, Any]:
        """Plain dict for a model's metadata: the configuration and the figures."""
        return {**asdict(config), "seconds": self.seconds, "validation_mse_start": self.validation_mse_start,
                "validation_mse": self.validation_mse, "final_loss": self.losses[-1]}


def draw_examples(
    synth: Synth, features: FeatureSettings, count: int, rng: np.random.Generator, ceiling_db: float = MEL_CEILING_DB
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Up to ``count`` examples: log-mels [B, n_mels, frames] dB of uniform quantised patches [B, P] at uniform notes.

    Notes are uniform over the definition's playable range; patches peaking below AUDIBLE_PEAK_DB dBFS are
    dropped (the environment does not use them as targets either), so B <= count.
    """
    definition = synth.definition
    notes = rng.integers(definition.note.lowest_note, definition.note.highest_note + 1, count)
    params = quantise_all(definition, rng.random((count, len(definition.parameters))))
    audio = synth.render(params, notes)
    audible = np.abs(audio).max(axis=1) >= 10.0 ** (AUDIBLE_PEAK_DB / 20.0)
    return observe_mel(audio[audible], features, ceiling_db), params[audible].astype(np.float32)


def mean_squared_error(
    regressor: OneShotRegressor, mels: npt.NDArray[np.float32], params: npt.NDArray[np.float32]
) -> float:
    """The regressor's MSE on ``mels`` [B, n_mels, frames] against ``params`` [B, P], without gradients."""
    regressor.eval()
    with torch.no_grad():
        predicted = regressor(torch.from_numpy(mels))
    return float(torch.mean((predicted - torch.from_numpy(params)) ** 2))


def train_oneshot(
    synth: Synth,
    config: OneShotConfig | None = None,
    features: FeatureSettings | None = None,
    ceiling_db: float = MEL_CEILING_DB,
    progress: bool = True,
) -> OneShotTraining:
    """Train a :class:`OneShotRegressor` for ``synth`` (seeded by ``config.seed``; sets torch's global seed).

    ``features`` default to ``FeatureSettings(sample_rate=synth rate)`` and ``ceiling_db`` to the environment's
    log-mel ceiling; to add the regressor to a model folder, pass the model's (its metadata has both).
    """
    config = config or OneShotConfig()
    features = features or FeatureSettings(sample_rate=synth.sample_rate)
    began = time.perf_counter()
    torch.manual_seed(config.seed)
    frames = features.frames(synth.definition.note.render_samples)
    regressor = OneShotRegressor(features, frames, len(synth.parameters), config.networks)
    optimiser = torch.optim.Adam(regressor.parameters(), lr=config.lr)
    validation = draw_examples(synth, features, config.validation_samples,
                               np.random.default_rng([config.seed, VALIDATION_STREAM]), ceiling_db)
    validation_start = mean_squared_error(regressor, *validation)
    rng = np.random.default_rng([config.seed, TRAIN_STREAM])
    losses: list[float] = []
    bar = tqdm(range(config.steps), desc="one-shot", unit="step", disable=not progress, leave=False)
    for _ in bar:
        mels, params = draw_examples(synth, features, config.batch_size, rng, ceiling_db)
        regressor.train()
        loss = torch.mean((regressor(torch.from_numpy(mels)) - torch.from_numpy(params)) ** 2)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    return OneShotTraining(regressor.eval(), losses, validation_start, mean_squared_error(regressor, *validation),
                           time.perf_counter() - began)


def attach_oneshot(regressor: OneShotRegressor, model_dir: Path, training: Mapping[str, Any]) -> Path:
    """Export ``regressor`` as ``model_dir/oneshot.onnx`` and record it (and ``training``) in its metadata.json.

    The regressor must listen as the model does (its n_mels and frames); export checks onnxruntime against torch.
    """
    path = export_oneshot(regressor, load_metadata(model_dir))
    add_network(path.parent, "oneshot", training)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Train a one-shot regressor for the synth of a model folder and add it to that folder."""
    parser = argparse.ArgumentParser(prog="python -m synthmatch.training.oneshot", description=main.__doc__)
    parser.add_argument("--model", type=Path, required=True, metavar="DIR", help="a model folder (metadata.json)")
    parser.add_argument("--steps", type=int, default=OneShotConfig.steps, help="gradient steps (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=OneShotConfig.batch_size, help="patches per step")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args(argv)
    metadata = load_metadata(args.model)
    definition = find_definition(metadata.synth_name)
    metadata.check_fits(definition)
    torch.set_num_threads(args.threads)
    networks = NetworkConfig(**metadata.raw["networks"])
    config = OneShotConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed, networks=networks)
    result = train_oneshot(open_synth(definition), config, metadata.features, metadata.mel_ceiling_db)
    path = attach_oneshot(result.regressor, args.model, result.summary(config))
    print(f"{path}: held-out MSE {result.validation_mse_start:.4f} -> {result.validation_mse:.4f} "
          f"after {config.steps} steps in {result.seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
