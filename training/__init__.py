"""The offline wing: the Gymnasium environment, training, export and evaluation.

``synthmatch/SynthMatch-v1`` is registered with Gymnasium by ``import synthmatch`` (see
:mod:`synthmatch.environment_registration`), which imports neither this package nor torch. It imports the core's
synths and features; neither the core nor the live wing imports it.
"""
