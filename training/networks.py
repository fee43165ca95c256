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
    """Channels of the CNN observer's first convolution (doubled at each stage); the transformer's tokens are
    ``4 * channels`` wide."""
    hidden: int = 256
    """Width of the policy's and critics' hidden layers."""

    def to_dict(self) -> dict[str, object]:
        """Plain dict for checkpoints and metadata."""
        return asdict(self)


def observer_input(target: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """target, current [B, n_mels, frames] dB -> [B, 3, n_mels, frames]: both and their difference, about +-1."""
    t = (target - MEL_OFFSET_DB) / MEL_SCALE_DB
    u = (current - MEL_OFFSET_DB) / MEL_SCALE_DB
    return torch.stack([t, u, t - u], dim=1)


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
            self.flat = self.convs(torch.zeros(1, 3, features.n_mels, frames)).numel()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(self.flat, config.embed_dim), nn.SiLU())
        self.n_mels, self.frames = features.n_mels, frames

    def forward(self, target: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """target, current [B, n_mels, frames] dB -> embedding [B, embed_dim]."""
        return self.head(self.convs(observer_input(target, current)))


class BandCnnObserver(CnnObserver):
    """The CNN, plus each mel band's mean over time of the three inputs, given to the head past the convolutions.

    The stride-2 stack blurs the frequency axis and GroupNorm takes out each group's mean over the spectrogram, so
    the CNN hears the spectral envelope (oscillator shapes, cutoff, noise) only indirectly; the band means
    (3 x n_mels numbers: both envelopes and their difference) give it to the head at full mel resolution.
    """

    def __init__(self, features: FeatureSettings, frames: int, config: NetworkConfig) -> None:
        super().__init__(features, frames, config)
        self.head = nn.Sequential(nn.Linear(self.flat + 3 * features.n_mels, config.embed_dim), nn.SiLU())

    def forward(self, target: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """target, current [B, n_mels, frames] dB -> embedding [B, embed_dim]."""
        x = observer_input(target, current)
        return self.head(torch.cat([self.convs(x).flatten(1), x.mean(dim=3).flatten(1)], dim=1))


#: Mel bands and frames of one patch (token) of :class:`TransformerObserver`: 8 x 7 tiles a 64 x 63 log-mel exactly.
PATCH_MELS, PATCH_FRAMES = 8, 7
#: Encoder blocks and attention heads of :class:`TransformerObserver`.
TRANSFORMER_BLOCKS, TRANSFORMER_HEADS = 2, 4


class EncoderBlock(nn.Module):
    """A pre-norm transformer encoder block (self-attention, then a two-layer MLP), spelt out for a plain ONNX graph."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (width // heads) ** -0.5
        self.attention_norm = nn.LayerNorm(width)
        self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """tokens [B, N, width] -> tokens [B, N, width]."""
        tokens, width = x.shape[1], x.shape[2]
        q, k, v = self.qkv(self.attention_norm(x)).reshape(-1, tokens, 3, self.heads, width // self.heads).permute(
            2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        x = x + self.out((weights @ v).transpose(1, 2).reshape(-1, tokens, width))
        return x + self.mlp(x)


class TransformerObserver(nn.Module):
    """A small spectrogram transformer over [target, current, target - current] -> embedding [B, embed_dim].

    Each PATCH_MELS x PATCH_FRAMES tile of the three log-mels is one token of width ``4 * channels`` with a learnt
    position; TRANSFORMER_BLOCKS encoder blocks let every tile attend to every other (an envelope's time course, a
    filter's spectral slope), and the mean token goes through a linear layer to the embedding. The CNN's
    stride-2 stack instead sees the whole sound only in its last, coarsest layers.
    """

    def __init__(self, features: FeatureSettings, frames: int, config: NetworkConfig) -> None:
        super().__init__()
        width = 4 * config.channels
        self.patches = nn.Conv2d(3, width, (PATCH_MELS, PATCH_FRAMES), stride=(PATCH_MELS, PATCH_FRAMES))
        tokens = (features.n_mels // PATCH_MELS) * (frames // PATCH_FRAMES)
        self.position = nn.Parameter(0.02 * torch.randn(1, tokens, width))
        self.blocks = nn.Sequential(*(EncoderBlock(width, TRANSFORMER_HEADS) for _ in range(TRANSFORMER_BLOCKS)))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, config.embed_dim), nn.SiLU())

    def forward(self, target: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """target, current [B, n_mels, frames] dB -> embedding [B, embed_dim]."""
        tokens = self.patches(observer_input(target, current)).flatten(2).transpose(1, 2) + self.position
        return self.head(self.blocks(tokens).mean(dim=1))


ObserverFactory = Callable[[FeatureSettings, int, NetworkConfig], nn.Module]
#: Observer architectures by name; add one here to make it selectable by configuration.
OBSERVERS: dict[str, ObserverFactory] = {
    "cnn": CnnObserver, "cnn_bands": BandCnnObserver, "transformer": TransformerObserver,
}


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
