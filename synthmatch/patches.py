"""Patch files: the best patch of a match as JSON, in the synth's units and normalised, and how to read one back.

A patch file says which synth (definition name and hash) it is for, each parameter's value in the synth's units
and normalised [0, 1], the distance reached, the target it matched and when. It is written atomically (a temp
file in the same folder, then ``os.replace``), so a reader never sees half a patch.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synthmatch.definitions import SynthDefinition
from synthmatch.params import denormalise_all, normalise_all, quantise_all

#: Version of the patch file format.
PATCH_FORMAT = 1


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

    @classmethod
    def from_params(
        cls, definition: SynthDefinition, params: npt.ArrayLike, *, distance: float, note: int, method: str,
        target: str | Path = "",
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
            )
        except KeyError as err:
            raise PatchError(f"{where}: missing key {err.args[0]!r}; not a patch file written by synthmatch") from None
        except (TypeError, ValueError) as err:
            raise PatchError(f"{where}: malformed ({err}); not a patch file written by synthmatch") from None


def _number_map(value: Any, key: str) -> dict[str, float]:
    """A JSON object of finite numbers as ``{name: float}``; ValueError naming ``key`` otherwise."""
    if not isinstance(value, dict):
        raise ValueError(f"{key!r} must be an object of name: number")
    numbers = {str(name): float(x) for name, x in value.items()}
    if not all(math.isfinite(x) for x in numbers.values()):
        raise ValueError(f"{key!r} holds a value that is not a finite number")
    return numbers


def write_patch(patch: Patch, path: str | Path) -> Path:
    """Write ``patch`` to ``path`` as JSON, atomically (temp file + os.replace); returns the path."""
    path = Path(path)
    if path.is_dir():
        raise PatchError(f"{path}: is a folder; give a file name such as {path / 'patch.json'}")
    if not path.parent.is_dir():
        raise PatchError(f"{path.parent}: no such folder; create it first or write the patch elsewhere")
    text = json.dumps(patch.to_dict(), indent=2) + "\n"
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a patch is an ordinary file
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_patch(path: str | Path) -> Patch:
    """The patch in the JSON file ``path``; PatchError (or FileNotFoundError) names the problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such patch file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PatchError(f"{path}: not a readable JSON patch file ({err})") from None
    if not isinstance(data, dict):
        raise PatchError(f"{path}: must hold a JSON object; not a patch file written by synthmatch")
    return Patch.from_dict(data, str(path))
