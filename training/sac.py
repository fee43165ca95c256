"""Soft Actor-Critic (Haarnoja et al. 2018, with automatic entropy tuning) around synthmatch's networks.

Reads top to bottom: the config, the squashed Gaussian, then :class:`SAC` (act, bootstrap target, update).
The policy is a Gaussian over pre-tanh steps, squashed by tanh into [-1, 1]; the environment multiplies the
step by its ``max_step``, so nothing here scales actions. Exploring samples from that squashed Gaussian; not
exploring (evaluation, export, the daemon) is ``Policy.forward``, tanh of the mean, the very module exported.
Observer sharing and the critic warm-up are described in :mod:`synthmatch.training.actor_critic`, the batch
layout in :mod:`synthmatch.training.algorithm`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from synthmatch.training.actor_critic import (
    ActorCriticConfig,
    Batch,
    Observation,
    check_field,
    critic_optimiser,
    embed,
    fit_critics,
    observation_tensors,
    polyak_update,
)
from synthmatch.training.checkpoints import restore_generator
from synthmatch.training.networks import Critic, Policy
from synthmatch.training.reward_probe import ProbeSettings


@dataclass(frozen=True)
class SacConfig(ActorCriticConfig):
    """SAC's settings: the shared actor-critic ones plus the entropy bonus."""

    alpha: float = 0.01
    """Entropy coefficient, > 0; with ``autotune`` its starting value. Small, as a step's reward (a distance
    decrease) is small next to a 20-parameter policy's log-density."""
    autotune: bool = True
    """Tune alpha so that the policy's entropy stays near ``target_entropy_per_param * P``."""
    target_entropy_per_param: float = -1.0
    """Entropy target per parameter in nats; -1 (SAC's usual -P in total) is a pre-tanh std of about 0.09."""
    alpha_lr: float = 3e-4
    """Adam learning rate of log(alpha)."""

    def __post_init__(self) -> None:
        """Check every field's range, naming the field, its value and the valid range."""
        super().__post_init__()
        check_field(self, "alpha", self.alpha > 0.0, "(0, inf)")
        check_field(self, "alpha_lr", self.alpha_lr >= 0.0, "[0, inf)")


def sample_squashed_gaussian(
    mean: torch.Tensor, log_std: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample a = tanh(mean + exp(log_std) * noise): action [B, P] in [-1, 1] and its log-density [B] in nats.

    The log-density includes the change of variables through tanh, -sum log(1 - a^2), computed from the
    pre-tanh value as 2 (log 2 - u - softplus(-2u)) so it stays finite where tanh rounds to +-1.
    """
    noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    pre_tanh = mean + log_std.exp() * noise
    gaussian = (-0.5 * noise.square() - log_std - 0.5 * math.log(2.0 * math.pi)).sum(-1)
    log_det_jacobian = (2.0 * (math.log(2.0) - pre_tanh - nn.functional.softplus(-2.0 * pre_tanh))).sum(-1)
    return torch.tanh(pre_tanh), gaussian - log_det_jacobian


class SAC:
    """SAC with twin critics, target observer and critics, automatic entropy tuning and a critic warm-up."""

    def __init__(self, observer: nn.Module, policy: Policy, critic: Critic, config: SacConfig, seed: int = 0) -> None:
        self.config = config
        self.observer, self.policy, self.critic = observer, policy, critic
        self.target_observer = copy.deepcopy(observer).requires_grad_(False)
        self.target_critic = copy.deepcopy(critic).requires_grad_(False)
        self.device = next(policy.parameters()).device
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.target_entropy = config.target_entropy_per_param * policy.params
        self.log_alpha = torch.tensor(math.log(config.alpha), device=self.device, requires_grad=True)
        self.critic_optimiser = critic_optimiser(observer, critic, config)
        self.actor_optimiser = torch.optim.Adam(policy.parameters(), lr=config.actor_lr)
        self.alpha_optimiser = torch.optim.Adam([self.log_alpha], lr=config.alpha_lr)
        self.updates = 0
        self.probe: ProbeSettings | None = None  # learns from rewards alone

    @property
    def alpha(self) -> torch.Tensor:
        """The entropy coefficient, a scalar tensor (no gradient)."""
        return self.log_alpha.detach().exp()

    def _sample(self, embedding: torch.Tensor, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """An action [B, P] from the policy's squashed Gaussian and its log-density [B]."""
        mean, log_std = self.policy.distribution_parameters(embedding, params)
        return sample_squashed_gaussian(mean, log_std, self.generator)

    @torch.no_grad()
    def act(self, obs: Observation, explore: bool) -> npt.NDArray[np.float32]:
        """Steps [B, P] in [-1, 1]: a squashed-Gaussian sample if ``explore``, else tanh(mean) (Policy.forward)."""
        target, current, params = observation_tensors(obs, self.device)
        embedding = self.observer(target, current)
        if explore:
            action, _ = self._sample(embedding, params)
        else:
            action = self.policy(embedding, params)
        return action.cpu().numpy()

    @torch.no_grad()
    def td_target(self, batch: Batch) -> torch.Tensor:
        """reward + gamma * (1 - terminated) * (min_i Q'_i(s', a') - alpha * log pi(a' | s')), a' ~ pi(. | s') [B].

        Only ``terminated`` stops the bootstrap: a transition cut by the time limit still looks ahead. a' comes
        from the online observer and policy (it is the current policy's next action); Q' from the targets.
        """
        next_embedding = embed(self.observer, batch, "next_")
        next_action, next_log_prob = self._sample(next_embedding, batch["next_params"])
        target_embedding = embed(self.target_observer, batch, "next_")
        q1, q2 = self.target_critic(target_embedding, batch["next_params"], next_action)
        next_value = torch.min(q1, q2) - self.alpha * next_log_prob
        return batch["reward"] + self.config.gamma * (1.0 - batch["terminated"]) * next_value

    def update(self, batch: Batch) -> dict[str, float]:
        """Critics (and observer) toward the soft TD target, then the actor and alpha, then the targets by Polyak.

        During the critic warm-up only the critic heads learn. The actor reads the embedding computed for the
        critics' step (detached), which saves one observer pass per update.
        """
        self.updates += 1
        warming_up = self.updates <= self.config.critic_warmup_updates
        embedding, metrics = fit_critics(
            self.observer, self.critic, self.critic_optimiser, batch, self.td_target(batch),
            train_observer=not warming_up,
        )
        if not warming_up:
            metrics |= self._update_actor(embedding, batch["params"])
        polyak_update(self.target_observer, self.observer, self.config.tau)
        polyak_update(self.target_critic, self.critic, self.config.tau)
        metrics["alpha"] = self.alpha.item()
        return metrics

    def _update_actor(self, embedding: torch.Tensor, params: torch.Tensor) -> dict[str, float]:
        """One step of the policy on alpha * log pi - min Q, and of log(alpha) if tuned; returns their metrics."""
        action, log_prob = self._sample(embedding, params)
        q1, q2 = self.critic(embedding, params, action)
        actor_loss = (self.alpha * log_prob - torch.min(q1, q2)).mean()
        self.actor_optimiser.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_optimiser.step()
        metrics = {"actor_loss": actor_loss.item(), "entropy": -log_prob.mean().item()}
        if self.config.autotune:
            alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
            self.alpha_optimiser.zero_grad(set_to_none=True)
            alpha_loss.backward()
            self.alpha_optimiser.step()
            metrics["alpha_loss"] = alpha_loss.item()
        return metrics

    def _parts(self) -> dict[str, nn.Module | torch.optim.Optimizer]:
        return {
            "observer": self.observer, "policy": self.policy, "critic": self.critic,
            "target_observer": self.target_observer, "target_critic": self.target_critic,
            "critic_optimiser": self.critic_optimiser, "actor_optimiser": self.actor_optimiser,
            "alpha_optimiser": self.alpha_optimiser,
        }

    def state_dict(self) -> dict[str, Any]:
        """Networks, targets, optimisers, log(alpha), the update count and the random state, for torch.save."""
        state: dict[str, Any] = {name: part.state_dict() for name, part in self._parts().items()}
        return state | {
            "log_alpha": self.log_alpha.detach().clone(), "updates": self.updates,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved, so a resumed run continues exactly."""
        for name, part in self._parts().items():
            part.load_state_dict(state[name])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.updates = int(state["updates"])
        restore_generator(self.generator, state["generator"])

    def policy_modules(self) -> tuple[nn.Module, Policy]:
        """The online observer and policy, whose composition is what export writes to ONNX."""
        return self.observer, self.policy
