"""A model folder's start bank: a few patches the agent may start from instead of the start patch alone.

Why: from the default patch the agent reaches some sounds and not others; started from the closest of a handful of
patches it reached on real recordings, it ends closer on real sounds (docs/evaluation.md, "Start bank"). The match
loop (:func:`synthmatch.matching.match_with_agent`) renders the bank after the start patch (and after the one-shot
regressor's guess for the target, where the folder has one: :meth:`synthmatch.agent.OnnxAgent.start_patches`), each
render one step of the budget, and lets the agent go on from the closest. ``starts.json`` in a model folder holds it::

    {"format": 1, "synth": "builtin", "parameters": ["osc1_shape", ...], "patches": [[0.1, ...], ...],
     "built_from": {...}}

``patches`` are normalised [0, 1], one value per parameter in the definition's order; ``built_from`` says how it
was made (``python -m synthmatch.training.build_start_bank``). This module reads and writes it (core: no torch).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synthmatch.atomic_file import write_atomically
from synthmatch.definitions import SynthDefinition
from synthmatch.json_file import read_json_object
from synthmatch.model_folder import STARTS_FILE, ModelFolderError, ModelMismatch

#: Version of starts.json this code writes and reads.
STARTS_FORMAT = 1
#: A bank is used only when it takes at most half of a match's steps (agent@32: up to 16 starts, the guess included).
MAX_BANK_SHARE = 0.5


def starts_fit(count: int, steps: int) -> bool:
    """Whether ``count`` start patches fit a match of ``steps`` steps (:data:`MAX_BANK_SHARE`)."""
    return count <= MAX_BANK_SHARE * steps


def bank_for(bank: npt.NDArray[np.float64] | None, steps: int) -> npt.NDArray[np.float64] | None:
    """``bank`` when a match of ``steps`` steps can afford it (:func:`starts_fit`), else None."""
    if bank is None or not starts_fit(len(bank), steps):
        return None
    return bank


def load_start_bank(folder: Path, definition: SynthDefinition) -> npt.NDArray[np.float64] | None:
    """The bank [K, P] of the model folder ``folder`` for ``definition``, None when it has no starts.json.

    A malformed file is a ModelFolderError, one made for other parameters a ModelMismatch, each naming the file
    and the fix: a bank is never ignored silently.
    """
    path = folder / STARTS_FILE
    if not path.is_file():
        return None
    fix = (f"rebuild it (python -m synthmatch.training.build_start_bank --model {folder} --recordings FOLDER) "
           "or remove it")
    data = read_json_object(path, ModelFolderError, missing=f"{path}: missing",
                            unreadable=lambda err: f"{path}: unreadable ({err}); {fix}",
                            not_object=f"{path}: not a JSON object; {fix}")
    if data.get("format") != STARTS_FORMAT:
        raise ModelFolderError(f"{path}: format {data.get('format')!r} is not {STARTS_FORMAT}; {fix}")
    names = data.get("parameters")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ModelFolderError(f"{path}: 'parameters' must be a list of parameter names; {fix}")
    if tuple(names) != definition.parameter_names:
        raise ModelMismatch(f"{path}: made for other parameters than {definition.name}'s ({definition.source}); {fix}")
    rows = data.get("patches")
    if not isinstance(rows, list) or not all(
            isinstance(row, list) and all(isinstance(x, int | float) and not isinstance(x, bool) for x in row)
            for row in rows):
        raise ModelFolderError(f"{path}: malformed patches (lists of numbers expected); {fix}")
    try:
        patches = np.array(rows, dtype=np.float64)
    except ValueError as err:
        raise ModelFolderError(f"{path}: malformed patches ({type(err).__name__}: {err}); {fix}") from None
    count = len(definition.parameters)
    if patches.ndim != 2 or patches.shape[0] < 1 or patches.shape[1] != count or not np.all(
            np.isfinite(patches) & (patches >= 0.0) & (patches <= 1.0)):
        raise ModelFolderError(
            f"{path}: patches must be one or more lists of {count} normalised values in [0, 1]; {fix}")
    return patches


def write_start_bank(
    folder: Path, definition: SynthDefinition, patches: npt.NDArray[np.floating], built_from: Mapping[str, Any]
) -> Path:
    """Write ``patches`` [K, P] (normalised) as ``folder``'s starts.json, atomically; returns its path."""
    data = {"format": STARTS_FORMAT, "synth": definition.name, "parameters": list(definition.parameter_names),
            "patches": [[round(float(x), 6) for x in patch] for patch in patches], "built_from": dict(built_from)}
    return write_atomically(folder / STARTS_FILE, json.dumps(data, indent=1) + "\n")
