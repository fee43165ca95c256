"""Data sets of a synth: random patches, each with its note and its sound, in shards of a folder (format 1).

A data set is a folder with ``manifest.json`` (which synth, by definition hash, which seed, how many patches, how
they were played) and ``shards/shard-NNNNN.npz``, each written atomically once complete, so that an interrupted
run resumes by writing only the missing shards. Patch ``i``'s parameters and note are a pure function of
``(seed, i)`` (:func:`patch_for`), so a seed gives the same patches whatever the number of workers. A reader
(:func:`open_dataset`) refuses a data set made with another definition, naming both. The format is in
docs/datasets.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from synthmatch import __version__
from synthmatch.atomic_file import replacing, write_atomically
from synthmatch.definition_writer import definition_to_document
from synthmatch.definitions import SynthDefinition
from synthmatch.json_file import read_json_object
from synthmatch.params import quantise_all

#: Version of the data set format; a reader refuses another.
DATASET_FORMAT = 1
#: Patches per shard file.
SHARD_SIZE = 64
#: The manifest's file name inside a data set folder.
MANIFEST_NAME = "manifest.json"
#: The folder of shard files inside a data set folder.
SHARDS_FOLDER = "shards"

Source = Literal["render", "rig"]
SOURCES: tuple[str, ...] = ("render", "rig")


class DatasetError(ValueError):
    """A data set folder is missing, malformed or of another synth; the message names the folder and the fix."""


def definition_sha256(definition: SynthDefinition) -> str:
    """The hash that ties a data set to a definition: sha256 of the definition's canonical content (hex).

    Canonical: the document that :func:`~synthmatch.definition_writer.definition_to_document` writes, as JSON
    with sorted keys, without the descriptions and the plugin's path (they change no sound, and a plugin lies in
    another folder on another machine); comments and key order of the file do not count either.
    """
    document = definition_to_document(definition)
    document.pop("description", None)
    document.pop("plugin", None)
    for parameter in document["parameters"]:
        parameter.pop("description", None)
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def patch_for(seed: int, i: int, definition: SynthDefinition) -> tuple[npt.NDArray[np.float32], int]:
    """Patch ``i`` of the data set with ``seed``: ``(params float32[P], note)``, a pure function of (seed, i).

    Each parameter is drawn uniformly in [0, 1] and snapped to what it can take (its steps, its MIDI resolution);
    the note is drawn uniformly within the definition's playable range (lowest_note..highest_note).
    """
    generator = np.random.default_rng([int(seed), int(i)])
    params = quantise_all(definition, generator.random(len(definition.parameters)))
    note = int(generator.integers(definition.note.lowest_note, definition.note.highest_note + 1))
    return params.astype(np.float32), note


def patches_for(
    seed: int, indices: npt.ArrayLike, definition: SynthDefinition
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int16]]:
    """:func:`patch_for` of each patch number in ``indices[k]``: ``(params float32[k, P], notes int16[k])``."""
    drawn = [patch_for(seed, int(i), definition) for i in np.asarray(indices).reshape(-1)]
    params = np.stack([p for p, _ in drawn]) if drawn else np.zeros((0, len(definition.parameters)), np.float32)
    return params.astype(np.float32), np.asarray([n for _, n in drawn], dtype=np.int16)


@dataclass(frozen=True)
class Manifest:
    """What a data set holds: the synth (name, definition hash, parameter order), the seed and how it was played."""

    synth: str
    """Name of the synth definition."""
    definition_sha256: str
    """:func:`definition_sha256` of the definition the data set was made with."""
    parameters: tuple[str, ...]
    """Parameter names, in the order of the columns of ``params``."""
    seed: int
    """Seed of :func:`patch_for`."""
    patches: int
    """Number of patches drawn (kept ones plus skipped ones)."""
    sample_rate: int
    """Sample rate of the audio in Hz."""
    note_seconds: float
    """How long each note was held (the gate), in seconds."""
    render_seconds: float
    """Length of each take in seconds; ``audio`` has ``round(render_seconds * sample_rate)`` samples."""
    notes: tuple[int, int]
    """Lowest and highest MIDI note drawn (inclusive)."""
    source: Source
    """``render``: rendered in-process; ``rig``: played and recorded through the daemon's rig."""
    shard_size: int = SHARD_SIZE
    """Patches per shard."""
    synthmatch: str = __version__
    """Version of synthmatch that wrote the data set."""
    format: int = DATASET_FORMAT
    """Version of this format."""

    @classmethod
    def for_definition(
        cls, definition: SynthDefinition, *, seed: int, patches: int, source: Source, shard_size: int = SHARD_SIZE
    ) -> Manifest:
        """The manifest of a new data set of ``patches`` patches of ``definition`` drawn with ``seed``."""
        if patches < 1:
            raise DatasetError(f"a data set needs at least 1 patch, got {patches}")
        if shard_size < 1:
            raise DatasetError(f"shard size must be at least 1, got {shard_size}")
        note = definition.note
        return cls(
            synth=definition.name, definition_sha256=definition_sha256(definition),
            parameters=definition.parameter_names, seed=int(seed), patches=int(patches),
            sample_rate=note.sample_rate, note_seconds=note.note_seconds, render_seconds=note.render_seconds,
            notes=(note.lowest_note, note.highest_note), source=source, shard_size=int(shard_size),
        )

    @property
    def samples(self) -> int:
        """Samples per take."""
        return int(round(self.render_seconds * self.sample_rate))

    @property
    def shard_count(self) -> int:
        """Number of shard files of the finished data set."""
        return -(-self.patches // self.shard_size)

    def shard_indices(self, shard: int) -> npt.NDArray[np.int64]:
        """The patch numbers that shard number ``shard`` covers (kept or skipped)."""
        return np.arange(shard * self.shard_size, min(self.patches, (shard + 1) * self.shard_size), dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``manifest.json``."""
        data = asdict(self)
        data["parameters"] = list(self.parameters)
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "<manifest>") -> Manifest:
        """Inverse of :meth:`to_dict`, checking the format and every field; a DatasetError names ``where``."""
        if data.get("format") != DATASET_FORMAT:
            raise DatasetError(f"{where}: data set format {data.get('format')!r} is not {DATASET_FORMAT}; "
                               "make the data set again with this version of synthmatch")
        try:
            low, high = (int(n) for n in data["notes"])
            manifest = cls(
                synth=str(data["synth"]), definition_sha256=str(data["definition_sha256"]),
                parameters=tuple(str(p) for p in data["parameters"]), seed=int(data["seed"]),
                patches=int(data["patches"]), sample_rate=int(data["sample_rate"]),
                note_seconds=float(data["note_seconds"]), render_seconds=float(data["render_seconds"]),
                notes=(low, high), source=data["source"], shard_size=int(data["shard_size"]),
                synthmatch=str(data.get("synthmatch", "")), format=DATASET_FORMAT,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DatasetError(f"{where}: malformed manifest ({type(err).__name__}: {err})") from None
        if manifest.source not in SOURCES or manifest.patches < 1 or manifest.shard_size < 1:
            raise DatasetError(f"{where}: malformed manifest (source {manifest.source!r}, patches "
                               f"{manifest.patches}, shard_size {manifest.shard_size})")
        return manifest


@dataclass(frozen=True)
class Shard:
    """One shard's patches that were kept (``index``, ``params``, ``note``, ``audio``) and those skipped."""

    index: npt.NDArray[np.int64]
    """Patch numbers kept, int64[k]."""
    params: npt.NDArray[np.float32]
    """Normalised parameters, float32[k, P], in the definition's order."""
    note: npt.NDArray[np.int16]
    """MIDI note of each take, int16[k]."""
    audio: npt.NDArray[np.float32]
    """Mono audio as rendered or recorded, float32[k, samples]."""
    skipped_silent: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    """Patch numbers dropped as silent."""
    skipped_broken: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    """Patch numbers dropped as broken (NaN/inf, clipped, or the render raised)."""


def manifest_path(folder: str | Path) -> Path:
    """Path of the manifest of the data set in ``folder``."""
    return Path(folder) / MANIFEST_NAME


def shard_path(folder: str | Path, shard: int) -> Path:
    """Path of shard number ``shard`` in the data set ``folder``."""
    return Path(folder) / SHARDS_FOLDER / f"shard-{shard:05d}.npz"


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of the data set in ``folder``; a DatasetError when there is none or it is malformed."""
    path = manifest_path(folder)
    data = read_json_object(
        path, DatasetError, missing=f"{folder}: not a data set (no {MANIFEST_NAME}); make one with synthmatch dataset",
        unreadable=lambda err: f"{path}: cannot read the manifest ({err})",
        not_object=f"{path}: malformed manifest (not a JSON object)",
    )
    return Manifest.from_dict(data, str(path))


def check_definition(manifest: Manifest, definition: SynthDefinition, where: str | Path) -> None:
    """Refuse a data set made with another definition: the DatasetError names both synths and both hashes."""
    wanted = definition_sha256(definition)
    if manifest.definition_sha256 != wanted or manifest.synth != definition.name:
        raise DatasetError(
            f"{where}: made with another definition: synth {manifest.synth!r} (definition sha256 "
            f"{manifest.definition_sha256[:12]}...), not {definition.name!r} (sha256 {wanted[:12]}...); use the "
            f"definition it was made with, or make a new data set in another folder"
        )


def write_manifest(folder: str | Path, manifest: Manifest) -> Manifest:
    """Start (or confirm, to resume) the data set ``manifest`` in ``folder``; returns the manifest in force.

    A new folder gets the manifest, atomically. A folder that already holds a data set must hold this very one
    (same definition, seed, number of patches, shard size and source); otherwise a DatasetError says what differs
    and nothing is written.
    """
    folder = Path(folder)
    if manifest_path(folder).exists():
        existing = read_manifest(folder)
        if existing.definition_sha256 != manifest.definition_sha256 or existing.synth != manifest.synth:
            raise DatasetError(
                f"{folder}: holds a data set of another definition: synth {existing.synth!r} (definition sha256 "
                f"{existing.definition_sha256[:12]}...), not {manifest.synth!r} (sha256 "
                f"{manifest.definition_sha256[:12]}...); choose another --out folder"
            )
        keys = ("seed", "patches", "shard_size", "source", "sample_rate", "note_seconds", "render_seconds", "notes")
        differ = [f"{k} {getattr(existing, k)!r} there, {getattr(manifest, k)!r} asked"
                  for k in keys if getattr(existing, k) != getattr(manifest, k)]
        if differ:
            raise DatasetError(f"{folder}: holds another data set of {existing.synth} ({'; '.join(differ)}); "
                               "resume it with the same options, or choose another --out folder")
        return existing
    if folder.exists() and any(p.name != SHARDS_FOLDER for p in folder.iterdir()):
        raise DatasetError(f"{folder}: exists and is not a data set; choose an empty or new --out folder")
    (folder / SHARDS_FOLDER).mkdir(parents=True, exist_ok=True)
    write_atomically(manifest_path(folder), json.dumps(manifest.to_dict(), indent=2) + "\n")
    return manifest


def write_shard(folder: str | Path, manifest: Manifest, shard: int, data: Shard) -> Path:
    """Write shard number ``shard`` of the data set in ``folder`` atomically; returns its path.

    The shard's patches must be the ones it covers (:meth:`Manifest.shard_indices`), each kept or skipped once,
    and the arrays must have the manifest's shapes; a ValueError says which is not.
    """
    _check_shard(manifest, shard, data, f"shard {shard}")
    path = shard_path(folder, shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as temporary, temporary.open("wb") as file:
        np.savez(
            file, index=data.index.astype(np.int64), params=data.params.astype(np.float32),
            note=data.note.astype(np.int16), audio=data.audio.astype(np.float32),
            skipped_silent=data.skipped_silent.astype(np.int64), skipped_broken=data.skipped_broken.astype(np.int64),
        )
    return path


def read_shard(path: str | Path, manifest: Manifest, shard: int) -> Shard:
    """Shard number ``shard`` from ``path``, checked against ``manifest``; a DatasetError names the file."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            data = Shard(**{name: np.asarray(arrays[name]) for name in _SHARD_ARRAYS})
    except (OSError, KeyError, ValueError) as err:
        raise DatasetError(f"{path}: cannot read the shard ({err}); delete it and resume the data set") from None
    try:
        _check_shard(manifest, shard, data, str(path))
    except ValueError as err:
        raise DatasetError(f"{err}; delete it and resume the data set") from None
    return data


def shard_counts(path: str | Path) -> tuple[int, int, int]:
    """How many patches the shard file ``path`` kept, skipped as silent and as broken (reads no audio)."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return len(arrays["index"]), len(arrays["skipped_silent"]), len(arrays["skipped_broken"])
    except (OSError, KeyError, ValueError) as err:
        raise DatasetError(f"{path}: cannot read the shard ({err}); delete it and resume the data set") from None


_SHARD_ARRAYS = ("index", "params", "note", "audio", "skipped_silent", "skipped_broken")


def _check_shard(manifest: Manifest, shard: int, data: Shard, where: str) -> None:
    """A ValueError naming ``where`` unless ``data`` covers exactly shard ``shard``'s patches with the right shapes."""
    if not 0 <= shard < manifest.shard_count:
        raise ValueError(f"{where}: shard number {shard} is outside 0..{manifest.shard_count - 1}")
    k = len(data.index)
    expected = {"params": (k, len(manifest.parameters)), "note": (k,), "audio": (k, manifest.samples)}
    for name, shape in expected.items():
        if getattr(data, name).shape != shape:
            raise ValueError(f"{where}: {name} has shape {getattr(data, name).shape}, expected {shape}")
    covered = np.sort(np.concatenate([data.index, data.skipped_silent, data.skipped_broken]).astype(np.int64))
    if not np.array_equal(covered, manifest.shard_indices(shard)):
        raise ValueError(f"{where}: kept and skipped patches are not exactly patches "
                         f"{shard * manifest.shard_size}..{shard * manifest.shard_size + manifest.shard_size - 1}")


@dataclass(frozen=True)
class Dataset:
    """An opened data set: its folder and manifest; reads its shards (see :func:`open_dataset`)."""

    folder: Path
    manifest: Manifest

    def shard_numbers(self) -> list[int]:
        """The numbers of the shards written so far, in order."""
        return [j for j in range(self.manifest.shard_count) if shard_path(self.folder, j).is_file()]

    def missing_shards(self) -> list[int]:
        """The numbers of the shards not written yet (what a resumed run writes)."""
        return [j for j in range(self.manifest.shard_count) if not shard_path(self.folder, j).is_file()]

    @property
    def complete(self) -> bool:
        """Whether every shard is written."""
        return not self.missing_shards()

    def shards(self) -> Iterator[Shard]:
        """Each written shard, in order of shard number."""
        for j in self.shard_numbers():
            yield read_shard(shard_path(self.folder, j), self.manifest, j)

    def load_all(
        self,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int16], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Every kept patch of the written shards: ``(params[n, P], notes[n], audio[n, samples], index[n])``."""
        shards = list(self.shards())
        m = self.manifest
        if not shards:
            return (np.zeros((0, len(m.parameters)), np.float32), np.zeros(0, np.int16),
                    np.zeros((0, m.samples), np.float32), np.zeros(0, np.int64))
        return (np.concatenate([s.params for s in shards]), np.concatenate([s.note for s in shards]),
                np.concatenate([s.audio for s in shards]), np.concatenate([s.index for s in shards]))

    def skipped(self) -> tuple[int, int]:
        """How many patches of the written shards were skipped: ``(silent, broken)``."""
        shards = list(self.shards())
        return sum(len(s.skipped_silent) for s in shards), sum(len(s.skipped_broken) for s in shards)


def open_dataset(folder: str | Path, definition: SynthDefinition) -> Dataset:
    """The data set in ``folder``, made with ``definition``; a DatasetError otherwise (naming both definitions)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    check_definition(manifest, definition, folder)
    return Dataset(folder, manifest)
