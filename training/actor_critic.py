"""What SAC and TD3 share: the actor-critic settings, target networks, the critics' step and the anchored actor loss.

The batch layout is :mod:`synthmatch.training.algorithm`'s; the probed gradient reads batches and observations
with the same helpers (:func:`embed`, :func:`observation_tensors`) and checks its settings with :func:`check_field`.

**Observer sharing.** The observer is trained by the critics' loss only; the actor reads its embedding detached,
and the critics' bootstrap targets use a Polyak-averaged target observer next to the target critics.

**Frozen observer.** With ``observer_lr = 0`` the observer never changes, so the replay buffer can keep each
state's embedding instead of its log-mels (:class:`~synthmatch.training.replay.ReplayBuffer` with ``embed``): an
update is then a few small MLP passes instead of three CNN passes, so many more updates fit per environment step.
:func:`embed` takes the embedding from the batch when it is there.

**Critic warm-up.** Training starts from imitation-pretrained observer and policy weights, but the critics start
random. For the first ``critic_warmup_updates`` updates only the critic heads learn, on the frozen observer's
embedding: a random critic's gradient would otherwise drag the pretrained policy (and the embedding it reads)
away from what imitation taught it before the critic knows anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from synthmatch.training.networks import Critic

Batch = dict[str, torch.Tensor]
"""A replay batch: the keys and shapes are in :mod:`synthmatch.training.algorithm`."""
Observation = Mapping[str, npt.NDArray[np.floating]]
"""A batched observation: target, current [B, M, T] log-mel dB and params [B, P]."""

def check_field(config: object, name: str, ok: bool, valid: str) -> None:
    """Raise a ValueError naming ``config``'s field ``name``, its bad value and the ``valid`` range, unless ``ok``."""
    if not ok:
        default = getattr(type(config)(), name)
        raise ValueError(
            f"{type(config).__name__}.{name} = {getattr(config, name)!r} is outside {valid}; "
            f"the default is {default!r}"
        )


@dataclass(frozen=True)
class ActorCriticConfig:
    """Settings every actor-critic algorithm here shares; SacConfig and Td3Config add their own."""

    gamma: float = 0.95
    """Discount factor per step, in [0, 1); episodes are 32 steps, so 0.95 looks about 20 steps ahead."""
    tau: float = 0.005
    """Polyak factor of the target networks: target <- (1 - tau) * target + tau * online, in (0, 1]."""
    actor_lr: float = 3e-4
    """Adam learning rate of the policy."""
    critic_lr: float = 3e-4
    """Adam learning rate of the critic heads."""
    observer_lr: float = 1e-4
    """Adam learning rate of the observer, trained by the critic loss; lower, to keep its pretrained features."""
    critic_warmup_updates: int = 1000
    """Updates at the start that train the critic heads only (policy and observer frozen); see the module docs."""

    def __post_init__(self) -> None:
        """Check every field's range, naming the field, its value and the valid range."""
        check_field(self, "gamma", 0.0 <= self.gamma < 1.0, "[0, 1)")
        check_field(self, "tau", 0.0 < self.tau <= 1.0, "(0, 1]")
        for name in ("actor_lr", "critic_lr", "observer_lr"):
            check_field(self, name, getattr(self, name) >= 0.0, "[0, inf) (0 freezes those weights)")
        check_field(self, "critic_warmup_updates", self.critic_warmup_updates >= 0, "[0, inf)")


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target <- (1 - tau) * target + tau * source for every parameter; buffers (e.g. norm statistics) copied."""
    for target_param, param in zip(target.parameters(), source.parameters(), strict=True):
        target_param.lerp_(param, tau)
    for target_buffer, buffer in zip(target.buffers(), source.buffers(), strict=True):
        target_buffer.copy_(buffer)


def observation_tensors(obs: Observation, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """float32 tensors (target [B, M, T] dB, current [B, M, T] dB, params [B, P]) from numpy observations."""
    return tuple(  # type: ignore[return-value]
        torch.as_tensor(np.asarray(obs[key]), dtype=torch.float32, device=device)
        for key in ("target", "current", "params")
    )


def critic_optimiser(observer: nn.Module, critic: Critic, config: ActorCriticConfig) -> torch.optim.Adam:
    """One Adam over the critic heads (``critic_lr``) and the observer (``observer_lr``): both fit the TD target."""
    return torch.optim.Adam([
        {"params": critic.parameters(), "lr": config.critic_lr},
        {"params": observer.parameters(), "lr": config.observer_lr},
    ])


def embed(observer: nn.Module, batch: Batch, prefix: str = "") -> torch.Tensor:
    """The embedding [B, E] of the batch's ``{prefix}target`` and ``{prefix}current``, or the one it carries."""
    stored = batch.get(f"{prefix}embedding")
    return stored if stored is not None else observer(batch[f"{prefix}target"], batch[f"{prefix}current"])


def fit_critics(
    observer: nn.Module, critic: Critic, optimiser: torch.optim.Optimizer, batch: Batch, td_target: torch.Tensor,
    train_observer: bool,
) -> tuple[torch.Tensor, dict[str, float]]:
    """One step of both critics (and the observer, if ``train_observer``) toward ``td_target`` [B] (squared error).

    Returns the batch's embedding [B, E], detached, for the actor, and the critic metrics.
    """
    with torch.set_grad_enabled(train_observer):
        embedding = embed(observer, batch)
    q1, q2 = critic(embedding, batch["params"], batch["action"])
    loss = nn.functional.mse_loss(q1, td_target) + nn.functional.mse_loss(q2, td_target)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    metrics = {
        "critic_loss": loss.item(), "q1": q1.mean().item(), "q2": q2.mean().item(),
        "td_target": td_target.mean().item(),
    }
    return embedding.detach(), metrics


def anchored_actor_loss(
    q: torch.Tensor, action: torch.Tensor, oracle: torch.Tensor | None, bc_weight: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """-Q / mean|Q| + bc_weight * mean squared distance of ``action`` [B, P] to the oracle step: the TD3+BC actor loss.

    Q [B] is normalised by its batch mean magnitude (detached) so that ``bc_weight`` means the same whatever the
    reward scale; Adam makes the normalisation harmless without the anchor. Rows whose oracle is unknown (NaN, a
    target with no known patch) count in the Q term only. Returns the loss and its metrics.
    """
    q_term = -q.mean() / q.abs().mean().detach().clamp_min(1e-6)
    metrics = {"actor_loss": q_term.item()}
    if oracle is None or bc_weight == 0.0:
        return q_term, metrics
    known = ~torch.isnan(oracle[:, 0])
    anchor = (action[known] - oracle[known]).square().mean() if bool(known.any()) else action.sum() * 0.0
    metrics["oracle_mse"] = anchor.item()
    return q_term + bc_weight * anchor, metrics
