"""Twin Delayed DDPG (Fujimoto et al. 2018) around synthmatch's networks.

Reads top to bottom: the config, then :class:`TD3` (act, bootstrap target, update). The policy is deterministic,
``Policy.forward`` = tanh(mean) in [-1, 1], the very module exported; the environment multiplies the step by its
``max_step``, so nothing here scales actions. Exploring adds Gaussian noise to that action and clips the sum to
[-1, 1]; not exploring (evaluation, export, the daemon) adds nothing. The bootstrap target smooths the target
policy's action with clipped noise, and the actor and all target networks move every ``policy_delay`` updates.
Observer sharing and the critic warm-up are described in :mod:`synthmatch.training.actor_critic`, the batch
layout in :mod:`synthmatch.training.algorithm`.
"""

from __future__ import annotations

import copy
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
    anchored_actor_loss,
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
class Td3Config(ActorCriticConfig):
    """TD3's settings: the shared actor-critic ones plus exploration noise, target smoothing and the delay."""

    exploration_noise: float = 0.1
    """Std of the Gaussian noise added to the action when exploring, in action units (1 = one max_step)."""
    policy_noise: float = 0.2
    """Std of the noise added to the target policy's action in the bootstrap target (target policy smoothing)."""
    noise_clip: float = 0.5
    """The smoothing noise is clipped to [-noise_clip, noise_clip]."""
    policy_delay: int = 2
    """The actor and the target networks move once every ``policy_delay`` critic updates."""
    bc_weight: float = 0.0
    """Weight of the oracle anchor in the actor loss (TD3+BC, Fujimoto & Gu 2021): 0 is plain TD3; 0.4 is their
    alpha = 2.5. The anchor keeps the policy near the oracle step while the critic is still learning; see
    :func:`~synthmatch.training.algorithm.anchored_actor_loss`."""

    def __post_init__(self) -> None:
        """Check every field's range, naming the field, its value and the valid range."""
        super().__post_init__()
        for name in ("exploration_noise", "policy_noise", "noise_clip"):
            check_field(self, name, getattr(self, name) >= 0.0, "[0, inf) (0 turns that noise off)")
        check_field(self, "policy_delay", self.policy_delay >= 1, "[1, inf) (1 updates the actor every time)")
        check_field(self, "bc_weight", self.bc_weight >= 0.0, "[0, inf) (0 turns the oracle anchor off)")


class TD3:
    """TD3 with twin critics, target observer, critics and policy, delayed actor updates and a critic warm-up."""

    def __init__(self, observer: nn.Module, policy: Policy, critic: Critic, config: Td3Config, seed: int = 0) -> None:
        self.config = config
        self.observer, self.policy, self.critic = observer, policy, critic
        self.target_observer = copy.deepcopy(observer).requires_grad_(False)
        self.target_policy = copy.deepcopy(policy).requires_grad_(False)
        self.target_critic = copy.deepcopy(critic).requires_grad_(False)
        self.device = next(policy.parameters()).device
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.critic_optimiser = critic_optimiser(observer, critic, config)
        self.actor_optimiser = torch.optim.Adam(policy.parameters(), lr=config.actor_lr)
        self.updates = 0
        self.probe: ProbeSettings | None = None  # learns from rewards alone

    def _noise(self, like: torch.Tensor, std: float) -> torch.Tensor:
        """Gaussian noise shaped like ``like``, with standard deviation ``std``, from this algorithm's generator."""
        return std * torch.randn(like.shape, generator=self.generator, device=like.device, dtype=like.dtype)

    @torch.no_grad()
    def act(self, obs: Observation, explore: bool) -> npt.NDArray[np.float32]:
        """Steps [B, P] in [-1, 1]: Policy.forward, plus clipped exploration noise if ``explore``."""
        target, current, params = observation_tensors(obs, self.device)
        action = self.policy(self.observer(target, current), params)
        if explore:
            action = (action + self._noise(action, self.config.exploration_noise)).clamp(-1.0, 1.0)
        return action.cpu().numpy()

    @torch.no_grad()
    def td_target(self, batch: Batch) -> torch.Tensor:
        """reward + gamma * (1 - terminated) * min_i Q'_i(s', clip(pi'(s') + clip(noise, +-c), -1, 1)) [B].

        Only ``terminated`` stops the bootstrap: a transition cut by the time limit still looks ahead. pi', Q'
        and the observer feeding both are the target networks.
        """
        embedding = embed(self.target_observer, batch, "next_")
        action = self.target_policy(embedding, batch["next_params"])
        smoothing = self._noise(action, self.config.policy_noise).clamp(-self.config.noise_clip, self.config.noise_clip)
        q1, q2 = self.target_critic(embedding, batch["next_params"], (action + smoothing).clamp(-1.0, 1.0))
        return batch["reward"] + self.config.gamma * (1.0 - batch["terminated"]) * torch.min(q1, q2)

    def update(self, batch: Batch) -> dict[str, float]:
        """Critics (and observer) toward the TD target; every ``policy_delay``-th call the actor, then the targets.

        During the critic warm-up only the critic heads learn (the targets still follow them). The actor reads
        the embedding computed for the critics' step (detached), which saves one observer pass per update.
        """
        self.updates += 1
        warming_up = self.updates <= self.config.critic_warmup_updates
        embedding, metrics = fit_critics(
            self.observer, self.critic, self.critic_optimiser, batch, self.td_target(batch),
            train_observer=not warming_up,
        )
        if self.updates % self.config.policy_delay == 0:
            if not warming_up:
                metrics |= self._update_actor(embedding, batch)
            polyak_update(self.target_observer, self.observer, self.config.tau)
            polyak_update(self.target_policy, self.policy, self.config.tau)
            polyak_update(self.target_critic, self.critic, self.config.tau)
        return metrics

    def _update_actor(self, embedding: torch.Tensor, batch: Batch) -> dict[str, float]:
        """One step of the policy up the first critic's Q(s, pi(s)), anchored to the oracle; returns its metrics."""
        action = self.policy(embedding, batch["params"])
        q1, _ = self.critic(embedding, batch["params"], action)
        loss, metrics = anchored_actor_loss(q1, action, batch.get("oracle_action"), self.config.bc_weight)
        self.actor_optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.actor_optimiser.step()
        return metrics

    def _parts(self) -> dict[str, nn.Module | torch.optim.Optimizer]:
        return {
            "observer": self.observer, "policy": self.policy, "critic": self.critic,
            "target_observer": self.target_observer, "target_policy": self.target_policy,
            "target_critic": self.target_critic,
            "critic_optimiser": self.critic_optimiser, "actor_optimiser": self.actor_optimiser,
        }

    def state_dict(self) -> dict[str, Any]:
        """Networks, targets, optimisers, the update count and the random state, for torch.save."""
        state: dict[str, Any] = {name: part.state_dict() for name, part in self._parts().items()}
        return state | {"updates": self.updates, "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved, so a resumed run continues exactly."""
        for name, part in self._parts().items():
            part.load_state_dict(state[name])
        self.updates = int(state["updates"])
        restore_generator(self.generator, state["generator"])

    def policy_modules(self) -> tuple[nn.Module, Policy]:
        """The online observer and policy, whose composition is what export writes to ONNX."""
        return self.observer, self.policy
