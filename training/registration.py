"""Register the synthmatch environments with Gymnasium (done on ``import synthmatch.training``).

Gymnasium 1.x has no entry-point plugins, so registration happens on import. Either import first::

    import gymnasium, synthmatch.training
    env = gymnasium.make("synthmatch/SynthMatch-v0", synth="builtin")
    envs = gymnasium.make_vec("synthmatch/SynthMatch-v0", num_envs=64, synth="builtin")

or let Gymnasium import the module named before the colon::

    env = gymnasium.make("synthmatch.training:synthmatch/SynthMatch-v0", synth="builtin")
"""

from __future__ import annotations

import gymnasium

#: Steps after which an episode is truncated (the TimeLimit that ``gymnasium.make`` adds).
MAX_EPISODE_STEPS = 32
#: The environment's id; the version goes up whenever the reward or the spaces change.
ENV_ID = "synthmatch/SynthMatch-v0"
#: Every id registered by :func:`register_environments` (the tests run over all of them).
ENV_IDS: tuple[str, ...] = (ENV_ID,)


def register_environments() -> None:
    """Register every id in ENV_IDS with its single and vector entry points; a second call changes nothing."""
    if ENV_ID in gymnasium.registry:
        return
    gymnasium.register(
        id=ENV_ID,
        entry_point="synthmatch.training.environment:SynthMatchEnv",
        vector_entry_point="synthmatch.training.vector_environment:SynthMatchVectorEnv",
        max_episode_steps=MAX_EPISODE_STEPS,
        kwargs={"synth": "builtin"},
    )
