"""`import synthmatch` registers the Gymnasium environments, without importing the offline wing or torch."""

from __future__ import annotations

import subprocess
import sys

import gymnasium

from synthmatch.environment_registration import ENV_ID, register_environments

PROBE = """
import sys, gymnasium, synthmatch
print(gymnasium.spec("synthmatch/SynthMatch-v1").id)
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("synthmatch.training")))
env = gymnasium.make("synthmatch/SynthMatch-v1")
observation, info = env.reset(seed=0)
print(type(env.unwrapped).__name__, sorted(observation))
"""


def test_a_plain_id_works_after_import_synthmatch() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    spec_id, imported_at_import, made = done.stdout.splitlines()
    assert spec_id == ENV_ID
    assert imported_at_import == "[]"  # registering imported neither torch nor the training wing
    assert made.startswith("SynthMatchEnv [")


def test_registering_again_changes_nothing() -> None:
    spec = gymnasium.spec(ENV_ID)
    assert register_environments() is True
    assert gymnasium.spec(ENV_ID) is spec and spec.max_episode_steps == 32
