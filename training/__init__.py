"""The offline wing: the Gymnasium environment, training, export and evaluation.

Importing this package registers ``synthmatch/SynthMatch-v0`` with Gymnasium (see
:mod:`synthmatch.training.registration`; ``gymnasium.make("synthmatch.training:synthmatch/SynthMatch-v0")``
imports it for you). It imports the core's synths and features; neither the core nor the live wing imports it.
"""

from synthmatch.training.registration import register_environments

register_environments()
