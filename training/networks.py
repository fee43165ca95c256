"""The agent's networks: an observer that listens, a policy that turns knobs, critics that judge, a one-shot head.

Shapes: mel spectrograms are [B, n_mels, frames] in dB (synthmatch.features.log_mel, clipped to the observation
space), params and actions [B, P]. The observer sees the target and the current sound stacked as two channels
plus their difference, so "what is still wrong" is explicit. Each network is swappable by name through
:data:`OBSERVERS` and built from a :class:`NetworkConfig`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from synthmatch.features import FeatureSettings

#: Offset and scale that bring log-mel dB (about -80..+20) to roughly [-1, 1] inside the graph.
MEL_OFFSET_DB = 30.0
MEL_SCALE_DB = 50.0


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the networks; saved with every checkpoint and model."""

    observer: str = "cnn"
    """Observer architecture, a key of OBSERVERS."""
    embed_dim: int = 256
    """Size of the observer's embedding."""
    channels: int = 32
    """Channels of the observer's first convolution (doubled at each stage)."""
    hidden: int = 256
    """Width of the policy's and critics' hidden layers."""

    def to_dict(self) -> dict[str, object]:
        """Plain dict for checkpoints and metadata."""
        return asdict(self)


class CnnObserver(nn.Module):
    """Conv net over [target, current, target - current] log-mels -> embedding [B, embed_dim]."""

    def __init__(self, features: FeatureSettings, frames: int, config: NetworkConfig) -> None:
        super().__init__()
        c = config.channels
        layers: list[nn.Module] = []
        in_channels = 3
        for out_channels in (c, c, 2 * c, 2 * c, 4 * c):
            layers += [nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1), nn.GroupNorm(8, out_channels),
                       nn.SiLU()]
            in_channels = out_channels
        self.convs = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, 3, features.n_mels, frames)).numel()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, config.embed_dim), nn.SiLU())
        self.n_mels, self.frames = features.n_mels, frames

    def forward(self, target: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """target, current [B, n_mels, frames] dB -> embedding [B, embed_dim]."""
        t = (target - MEL_OFFSET_DB) / MEL_SCALE_DB
        u = (current - MEL_OFFSET_DB) / MEL_SCALE_DB
        return self.head(self.convs(torch.stack([t, u, t - u], dim=1)))


ObserverFactory = Callable[[FeatureSettings, int, NetworkConfig], nn.Module]
#: Observer architectures by name; add one here to make it selectable by configuration.
OBSERVERS: dict[str, ObserverFactory] = {"cnn": CnnObserver}


def build_observer(features: FeatureSettings, frames: int, config: NetworkConfig) -> nn.Module:
    """The observer that ``config.observer`` names; a ValueError lists the known ones."""
    if config.observer not in OBSERVERS:
        raise ValueError(f"unknown observer {config.observer!r}; known: {', '.join(OBSERVERS)}")
    return OBSERVERS[config.observer](features, frames, config)


def mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    """Two hidden layers of ``hidden`` units with LayerNorm and SiLU."""
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.LayerNorm(hidden), nn.SiLU(),
        nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.SiLU(),
        nn.Linear(hidden, outputs),
    )


class Policy(nn.Module):
    """Deterministic policy head: (embedding [B, E], params [B, P]) -> step [B, P] in [-1, 1] (tanh).

    SAC adds a log-std head (``log_std``) for its squashed Gaussian; the exported graph is the mean, tanh-squashed,
    so inference is deterministic and identical between training evaluation and the daemon.
    """

    def __init__(self, embed_dim: int, params: int, hidden: int) -> None:
        super().__init__()
        self.body = mlp(embed_dim + params, hidden, 2 * params)
        self.params = params

    def distribution_parameters(
        self, embedding: torch.Tensor, params: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pre-tanh mean and log-std [B, P] each (log-std clamped to [-5, 2])."""
        mean, log_std = self.body(torch.cat([embedding, params], dim=-1)).split(self.params, dim=-1)
        return mean, log_std.clamp(-5.0, 2.0)

    def forward(self, embedding: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """The deterministic action tanh(mean) [B, P]."""
        return torch.tanh(self.distribution_parameters(embedding, params)[0])


class Critic(nn.Module):
    """Twin Q-functions: (embedding, params, action) -> (q1, q2), each [B]."""

    def __init__(self, embed_dim: int, params: int, hidden: int) -> None:
        super().__init__()
        self.q1 = mlp(embed_dim + 2 * params, hidden, 1)
        self.q2 = mlp(embed_dim + 2 * params, hidden, 1)

    def forward(
        self, embedding: torch.Tensor, params: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both critics' values [B]."""
        x = torch.cat([embedding, params, action], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


class OneShotRegressor(nn.Module):
    """The InverSynth-style baseline: target log-mel [B, n_mels, frames] -> parameters [B, P] in [0, 1] at once.

    It reuses the observer architecture with the target in both slots, plus a sigmoid head.
    """

    def __init__(self, features: FeatureSettings, frames: int, params: int, config: NetworkConfig) -> None:
        super().__init__()
        self.observer = build_observer(features, frames, config)
        self.head = mlp(config.embed_dim, config.hidden, params)

    def forward(self, target: torch.Tensor) -> torch.Tensor:
        """Predicted normalised patch [B, P]."""
        return torch.sigmoid(self.head(self.observer(target, target)))
