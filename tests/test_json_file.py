"""The JSON files synthmatch reads (patch files, data set manifests, model metadata): a missing, a corrupt and a
non-object file each give that reader's own one-line error naming the file and the reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from synthmatch.datasets import DatasetError, read_manifest
from synthmatch.model_folder import ModelFolderError, load_metadata
from synthmatch.patches import PatchError, read_patch

#: Reader -> (the file it reads in a folder, the argument it takes, and for a missing, a corrupt and a non-object
#: file: the error class and the message expected, with {file} and {folder} for the paths).
READERS: dict[str, tuple[str, Callable[[Path], Any], list[tuple[type[Exception], str]]]] = {
    "patch": ("patch.json", lambda folder: read_patch(folder / "patch.json"), [
        (FileNotFoundError, "{file}: no such patch file"),
        (PatchError, "{file}: not a readable JSON patch file (Expecting property name enclosed in double quotes: "
                     "line 1 column 2 (char 1))"),
        (PatchError, "{file}: must hold a JSON object; not a patch file written by synthmatch"),
    ]),
    "manifest": ("manifest.json", read_manifest, [
        (DatasetError, "{folder}: not a data set (no manifest.json); make one with synthmatch dataset"),
        (DatasetError, "{file}: cannot read the manifest (Expecting property name enclosed in double quotes: "
                       "line 1 column 2 (char 1))"),
        (DatasetError, "{file}: malformed manifest (not a JSON object)"),
    ]),
    "metadata": ("metadata.json", load_metadata, [
        (FileNotFoundError, "{file}: missing; {folder} is not a model folder written by `synthmatch export`"),
        (ModelFolderError, "{file}: unreadable (Expecting property name enclosed in double quotes: line 1 column 2 "
                           "(char 1)); export the model again"),
        (ModelFolderError, "{file}: must hold a JSON object; export the model again"),
    ]),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("case, content", [(0, None), (1, "{not json"), (2, "[1, 2]")])
def test_a_missing_corrupt_or_non_object_file_is_one_line_naming_it(
    reader: str, case: int, content: str | None, tmp_path: Path
) -> None:
    name, read, expected = READERS[reader]
    file = tmp_path / name
    if content is not None:
        file.write_text(content)
    error, message = expected[case]
    with pytest.raises(error) as raised:
        read(tmp_path)
    assert str(raised.value) == message.format(file=file, folder=tmp_path)
    shown_below = raised.value.__cause__ or (None if raised.value.__suppress_context__ else raised.value.__context__)
    assert shown_below is None  # no second traceback under the one-line message
