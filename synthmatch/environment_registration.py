"""The Gymnasium ids of the synthmatch environments, registered by ``import synthmatch`` when Gymnasium is installed.

The environments live in the offline wing (:mod:`synthmatch.training`); registration names their classes by
string, so it imports neither that wing nor torch, and a plain id works after importing the package::

    import gymnasium, synthmatch
    env = gymnasium.make("synthmatch/SynthMatch-v1", synth="builtin")
    envs = gymnasium.make_vec("synthmatch/SynthMatch-v1", num_envs=64, synth="builtin")

Gymnasium 1.x has no entry-point plugins, hence the registration on import. Without Gymnasium (a daemon-only
install) nothing is registered and nothing is imported.
"""

from __future__ import annotations

#: Steps after which an episode is truncated (the TimeLimit that ``gymnasium.make`` adds).
MAX_EPISODE_STEPS = 32
#: The environment's id; the version goes up whenever the reward or the spaces change.
ENV_ID = "synthmatch/SynthMatch-v1"
#: Every id registered by :func:`register_environments` (the tests run over all of them).
ENV_IDS: tuple[str, ...] = (ENV_ID,)


def register_environments() -> bool:
    """Register every id in ENV_IDS with Gymnasium, if it is installed; returns whether it is. Idempotent."""
    try:
        import gymnasium
    except ModuleNotFoundError:
        return False
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(
            id=ENV_ID,
            entry_point="synthmatch.training.environment:SynthMatchEnv",
            vector_entry_point="synthmatch.training.vector_environment:SynthMatchVectorEnv",
            max_episode_steps=MAX_EPISODE_STEPS,
            kwargs={"synth": "builtin"},
        )
    return True
