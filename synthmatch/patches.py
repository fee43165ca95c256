"""Patch files: the best patch of a match as JSON, in the synth's units and normalised, and how to read one back.

A patch file says which synth (definition name and hash) it is for, each parameter's value in the synth's units
and normalised [0, 1], the distance reached, the target it matched and when. It is written atomically
(:mod:`synthmatch.atomic_file`), so a reader never sees half a patch, and it replaces only another patch file.
Patches saved by name (the daemon's ``patch/save``) go into one patch folder, never anywhere else.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synthmatch.atomic_file import check_replaceable, write_atomically
from synthmatch.definitions import SynthDefinition
from synthmatch.json_file import read_json_object
from synthmatch.params import denormalise_all, normalise_all, quantise_all

#: Version of the patch file format.
PATCH_FORMAT = 1
#: Suffix of a patch file; a name saved without it gets it.
PATCH_SUFFIX = ".json"
#: A patch name: a bare file name of letters, digits, spaces and - _ . + ( ), not starting with a dot.
PATCH_NAME = re.compile(r"[^\W_][\w .+()-]{0,99}")
#: Largest file read to decide whether it is a patch that may be replaced, in bytes.
MAX_PATCH_BYTES = 1 << 20


class PatchError(ValueError):
    """A patch file is unreadable, malformed or for another synth; the message names the file and the fix."""


@dataclass(frozen=True)
class Patch:
    """One matched patch: the synth it is for, its values, and how well it matched which target."""

    synth: str
    """Name of the synth definition."""
    synth_sha256: str
    """Hash of the definition file the patch was made with ("" if unknown)."""
    parameters: Mapping[str, float]
    """Parameter name -> value in the synth's units."""
    normalised: Mapping[str, float]
    """Parameter name -> normalised value in [0, 1] (what the agent turned)."""
    distance: float
    """Primary distance to the target in nepers; NaN if unknown."""
    note: int
    """MIDI note the patch was matched at."""
    method: str
    """Method that found the patch ("agent", "random", ...)."""
    target: str
    """Path of the target file, as given ("" if none)."""
    created: str
    """When the patch was made, ISO 8601 with the UTC offset."""
    gain_db: float | None = 0.0
    """Gain to apply after the synth to reach the target's loudness, in dB (docs/metrics.md, "Output level");
    None: not measured (a patch the daemon saved while its match was still running)."""
    note_seconds: float | None = None
    """How long the note was held when matching, in seconds; None: the definition's ``note_seconds``."""

    @classmethod
    def from_params(
        cls, definition: SynthDefinition, params: npt.ArrayLike, *, distance: float, note: int, method: str,
        target: str | Path = "", gain_db: float | None = 0.0, note_seconds: float | None = None,
    ) -> Patch:
        """The patch of normalised ``params[P]`` on ``definition``, stamped with the current time."""
        array = np.asarray(params, dtype=np.float64)
        return cls(
            synth=definition.name,
            synth_sha256=definition.sha256,
            parameters=denormalise_all(definition, array),
            normalised={name: float(x) for name, x in zip(definition.parameter_names, array, strict=True)},
            distance=float(distance),
            note=int(note),
            method=method,
            target=str(target),
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            gain_db=None if gain_db is None else float(gain_db),
            note_seconds=note_seconds,
        )

    def params(self, definition: SynthDefinition) -> npt.NDArray[np.float64]:
        """The patch as normalised, quantised ``params[P]`` for ``definition``, from the values in units.

        A PatchError says when the patch is for another synth or names parameters the definition lacks.
        """
        if self.synth != definition.name:
            raise PatchError(f"the patch is for synth {self.synth!r}, not {definition.name!r}; "
                             f"use --synth {self.synth}")
        try:
            return quantise_all(definition, normalise_all(definition, dict(self.parameters)))
        except KeyError as err:
            raise PatchError(f"{err.args[0]}; the patch was made with another version of the definition") from None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of a patch file."""
        return {
            "format": PATCH_FORMAT,
            "synth": {"name": self.synth, "sha256": self.synth_sha256},
            "parameters": dict(self.parameters),
            "normalised": dict(self.normalised),
            "distance": None if math.isnan(self.distance) else self.distance,
            "note": self.note,
            "method": self.method,
            "target": self.target,
            "created": self.created,
            "gain_db": self.gain_db,
            "note_seconds": self.note_seconds,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "<patch>") -> Patch:
        """Inverse of :meth:`to_dict`, checking every field; a PatchError names ``where`` and the bad key."""
        if data.get("format") != PATCH_FORMAT:
            raise PatchError(f"{where}: format {data.get('format')!r} is not {PATCH_FORMAT}; "
                             "write the patch again with this version of synthmatch")
        try:
            parameters = _number_map(data["parameters"], "parameters")
            normalised = _number_map(data["normalised"], "normalised")
            distance = data["distance"]
            return cls(
                synth=str(data["synth"]["name"]),
                synth_sha256=str(data["synth"]["sha256"]),
                parameters=parameters,
                normalised=normalised,
                distance=math.nan if distance is None else float(distance),
                note=int(data["note"]),
                method=str(data["method"]),
                target=str(data["target"]),
                created=str(data["created"]),
                gain_db=_gain_db(data),
                note_seconds=None if data.get("note_seconds") is None else float(data["note_seconds"]),
            )
        except KeyError as err:
            raise PatchError(f"{where}: missing key {err.args[0]!r}; not a patch file written by synthmatch") from None
        except (TypeError, ValueError) as err:
            raise PatchError(f"{where}: malformed ({err}); not a patch file written by synthmatch") from None


def _gain_db(data: Mapping[str, Any]) -> float | None:
    """A patch file's ``gain_db``: 0 when absent (written before the output level), None when null (unmeasured)."""
    value = data.get("gain_db", 0.0)
    return None if value is None else float(value)


def _number_map(value: Any, key: str) -> dict[str, float]:
    """A JSON object of finite numbers as ``{name: float}``; ValueError naming ``key`` otherwise."""
    if not isinstance(value, dict):
        raise ValueError(f"{key!r} must be an object of name: number")
    numbers = {str(name): float(x) for name, x in value.items()}
    if not all(math.isfinite(x) for x in numbers.values()):
        raise ValueError(f"{key!r} holds a value that is not a finite number")
    return numbers


def default_patch_dir() -> Path:
    """Where patches saved by name go unless told otherwise: $XDG_DATA_HOME/synthmatch/patches (the user's own)."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "synthmatch" / "patches"


def patch_path(patch_dir: str | Path, name: str) -> Path:
    """The file in ``patch_dir`` of the patch named ``name`` (``lead`` or ``lead.json``: ``lead.json``).

    A PatchError refuses anything but a bare name: folders, ``..``, absolute paths, hidden names.
    """
    if not PATCH_NAME.fullmatch(name):
        raise PatchError(
            f"{name!r} is not a patch name: give a bare name such as 'lead' or 'lead.json' (letters, digits, "
            f"spaces and - _ . + ( ), at most 100, starting with a letter or digit); it is saved in the patch folder"
        )
    return Path(patch_dir) / (name if name.endswith(PATCH_SUFFIX) else name + PATCH_SUFFIX)


def save_patch(patch: Patch, patch_dir: str | Path, name: str) -> Path:
    """Write ``patch`` as ``name`` in ``patch_dir`` (created if missing), see :func:`write_patch`; returns the path."""
    path = patch_path(patch_dir, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PatchError(f"{path.parent}: cannot create the patch folder ({err.strerror}); "
                         "choose another with --patch-dir") from None
    return write_patch(patch, path)


def write_patch(patch: Patch, path: str | Path) -> Path:
    """Write ``patch`` to ``path`` as JSON, atomically; returns the path.

    Only a new file or another patch file is replaced (its mode kept): a PatchError refuses any other file.
    """
    path = Path(path)
    check_replaceable(path, "synthmatch patch file", _holds_patch, PatchError, "patch.json")
    return write_atomically(path, json.dumps(patch.to_dict(), indent=2) + "\n")


def _holds_patch(path: Path) -> bool:
    """Whether the file ``path`` is a synthmatch patch (and small enough to read to find out)."""
    if path.stat().st_size > MAX_PATCH_BYTES:
        return False
    try:
        read_patch(path)
    except PatchError:
        return False
    return True


def read_patch(path: str | Path) -> Patch:
    """The patch in the JSON file ``path``; PatchError (or FileNotFoundError) names the problem."""
    path = Path(path)
    data = read_json_object(
        path, PatchError, missing=f"{path}: no such patch file", missing_error=FileNotFoundError,
        unreadable=lambda err: f"{path}: not a readable JSON patch file ({err})",
        not_object=f"{path}: must hold a JSON object; not a patch file written by synthmatch",
    )
    return Patch.from_dict(data, str(path))
