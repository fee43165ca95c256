"""synthmatch: match a synthesizer to a sound.

This package is the live wing (numpy, onnxruntime, pedalboard, python-osc, python-rtmidi, sounddevice;
never torch). The offline wing lives in :mod:`synthmatch.training`, the shipped models in
:mod:`synthmatch.models`.
"""

__version__ = "0.1.0"
