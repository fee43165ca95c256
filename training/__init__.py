"""The offline wing: the Gymnasium environment, training, export and evaluation.

Importing this package registers ``synthmatch/SynthMatch-v0`` with Gymnasium. It imports the live wing's
synths and features; the live wing never imports it.
"""
