"""synthmatch: match a synthesizer to a sound.

This package is the live wing (numpy, onnxruntime, pedalboard, python-osc, python-rtmidi, sounddevice;
never torch). The offline wing lives in :mod:`synthmatch.training`, the shipped models in
:mod:`synthmatch.models`.
"""

import os

# Matching runs many small matrix products per step; OpenBLAS's thread pool only slows them down (70 ms instead
# of 2 ms for a log-mel on a busy 2-core machine). A default, set before numpy loads; the user's setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
