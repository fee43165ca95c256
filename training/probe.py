"""Probed policy gradient: a deterministic policy gradient whose action gradient is measured on the synth.

TD3 and SAC learn a critic Q(s, a) and push the policy up its action gradient; with a 20-dimensional action and a
critic trained from scratch, that gradient was too poor to improve on the imitation policy (docs/training.md).
Here there is no critic: the environment is a synth that renders a batch in a millisecond per note, so at every
visited state the worker **probes** it, rendering ``pairs`` antithetic pairs of small variations of the action
taken, ``a + scale * e`` and ``a - scale * e`` (e ~ N(0, I)), and estimates the gradient of the one-step reward in
action space by central differences along the probed directions (as evolution strategies do in parameter space):

    g(s, a) = 1 / (2 * scale * pairs) * sum_k (d(a - scale * e_k) - d(a + scale * e_k)) * e_k

d being the primary distance to the target after the step; g is in nepers gained per action unit. The actor then
follows it as DPG follows dQ/da, anchored to the oracle step where the target's patch is known (as in TD3+BC):

    loss = -mean_b <pi(s_b), g_b> / mean_b |g_b| + bc_weight * mean_b |pi(s_b) - a*_b|^2

The gradient is myopic (gamma = 0): the episode's return is the distance gained, a telescoping sum of the steps'
rewards, so greedy progress on the real distance is what it asks for. What the probe adds over imitation: the
oracle step moves every parameter towards the target's value, whether or not it is heard; the probe says which
directions the distance really falls along, so parameters that sound alike, and targets that no patch
reproduces (a recording: no oracle at all), get a learning signal too. The price is ``2 * pairs`` extra renders
per transition, rendered in the worker while the learner updates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from synthmatch.training.actor_critic import Batch, Observation, check_field, embed, observation_tensors
from synthmatch.training.checkpoints import restore_generator
from synthmatch.training.networks import Critic, Policy
from synthmatch.training.reward_probe import ProbeSettings


@dataclass(frozen=True)
class ProbeConfig:
    """The probed policy gradient's settings (the ``[probe]`` table of a training config)."""

    actor_lr: float = 1e-4
    """Adam learning rate of the policy."""
    observer_lr: float = 1e-4
    """Adam learning rate of the observer, trained by the same loss; 0 freezes it (the buffer then keeps embeddings)."""
    pairs: int = 4
    """Antithetic pairs of variations probed per transition: 2 * pairs extra renders."""
    scale: float = 0.3
    """Std of the probed variations, in action units (1 = one max_step); 0.3 of the built-in synth's max_step
    0.1 moves a parameter by 0.03, about four 7-bit steps."""
    bc_weight: float = 1.0
    """Weight of the oracle anchor; the policy settles where the normalised probed gradient and the anchor's pull
    balance, so a smaller weight lets it stray further from the oracle step."""
    exploration_noise: float = 0.0
    """Std of the Gaussian noise added to the actions taken while collecting; the probe explores by itself, so
    the default collects on the policy's own states."""

    def __post_init__(self) -> None:
        """Check every field's range, naming the field, its value and the valid range."""
        check_field(self, "actor_lr", self.actor_lr > 0.0, "(0, inf)")
        check_field(self, "observer_lr", self.observer_lr >= 0.0, "[0, inf) (0 freezes the observer)")
        check_field(self, "pairs", self.pairs >= 1, "[1, inf)")
        check_field(self, "scale", self.scale > 0.0, "(0, inf)")
        check_field(self, "bc_weight", self.bc_weight >= 0.0, "[0, inf) (0 turns the oracle anchor off)")
        check_field(self, "exploration_noise", self.exploration_noise >= 0.0, "[0, inf) (0 turns the noise off)")

    @property
    def settings(self) -> ProbeSettings:
        """What the worker needs to probe."""
        return ProbeSettings(self.pairs, self.scale)


class ProbedGradient:
    """The probed policy gradient around imitation-pretrained observer and policy (the critic is not used)."""

    def __init__(
        self, observer: nn.Module, policy: Policy, critic: Critic, config: ProbeConfig, seed: int = 0
    ) -> None:
        del critic  # the probe measures what a critic would have to learn
        self.config = config
        self.observer, self.policy = observer, policy
        self.device = next(policy.parameters()).device
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.optimiser = torch.optim.Adam([
            {"params": policy.parameters(), "lr": config.actor_lr},
            {"params": observer.parameters(), "lr": config.observer_lr},
        ])
        self.updates = 0
        self.probe: ProbeSettings | None = config.settings

    @torch.no_grad()
    def act(self, obs: Observation, explore: bool) -> npt.NDArray[np.float32]:
        """Steps [B, P] in [-1, 1]: Policy.forward, plus clipped Gaussian noise if ``explore`` and it is configured."""
        target, current, params = observation_tensors(obs, self.device)
        action = self.policy(self.observer(target, current), params)
        if explore and self.config.exploration_noise > 0.0:
            noise = torch.randn(action.shape, generator=self.generator, device=self.device)
            action = (action + self.config.exploration_noise * noise).clamp(-1.0, 1.0)
        return action.cpu().numpy()

    def update(self, batch: Batch) -> dict[str, float]:
        """One step of observer and policy along the batch's ``reward_gradient`` [B, P], anchored to the oracle."""
        self.updates += 1
        with torch.set_grad_enabled(self.config.observer_lr > 0.0):
            embedding = embed(self.observer, batch)
        action = self.policy(embedding, batch["params"])
        gradient = batch["reward_gradient"]
        size = gradient.norm(dim=-1).mean().clamp_min(1e-8)
        ascent = -(action * gradient).sum(dim=-1).mean() / size
        loss, metrics = ascent, {"actor_loss": ascent.item(), "reward_gradient_norm": size.item()}
        oracle = batch.get("oracle_action")
        if oracle is not None and self.config.bc_weight > 0.0:
            known = ~torch.isnan(oracle[:, 0])
            if bool(known.any()):
                anchor = (action[known] - oracle[known]).square().mean()
                loss = loss + self.config.bc_weight * anchor
                metrics["oracle_mse"] = anchor.item()
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Networks, optimiser, the update count and the random state, for torch.save."""
        return {
            "observer": self.observer.state_dict(), "policy": self.policy.state_dict(),
            "optimiser": self.optimiser.state_dict(), "updates": self.updates,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved, so a resumed run continues exactly."""
        self.observer.load_state_dict(state["observer"])
        self.policy.load_state_dict(state["policy"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.updates = int(state["updates"])
        restore_generator(self.generator, state["generator"])

    def policy_modules(self) -> tuple[nn.Module, Policy]:
        """The observer and policy whose composition is what export writes to ONNX."""
        return self.observer, self.policy
