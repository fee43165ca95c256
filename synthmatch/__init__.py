"""synthmatch: match a synthesizer to a sound.

This package (the folder ``synthmatch/``) is the core both wings share: synth definitions, parameter maps, synths,
features, distances, audio files, pitch, the agent on onnxruntime, the match loop and search methods, and the CLI
(numpy, scipy, onnxruntime, pedalboard; never torch). The live wing is :mod:`synthmatch.daemon` (``daemon/``), the
offline wing :mod:`synthmatch.training` (``training/``), the shipped models :mod:`synthmatch.models` (``models/``).
"""

import os

# Matching runs many small matrix products per step; OpenBLAS's thread pool only slows them down (70 ms instead
# of 2 ms for a log-mel on a busy 2-core machine). A default, set before numpy loads; the user's setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

from synthmatch.environment_registration import register_environments  # noqa: E402  (after the BLAS setting)

register_environments()  # gymnasium.make("synthmatch/SynthMatch-v1") works after `import synthmatch`
