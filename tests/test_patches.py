"""Patch files saved by name into the patch folder, and the atomic writes under them (synthmatch.atomic_file)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from synthmatch.atomic_file import FileWriteError, replacing, write_atomically
from synthmatch.definitions import find_definition
from synthmatch.patches import Patch, PatchError, default_patch_dir, read_patch, save_patch, write_patch


@pytest.fixture(scope="module")
def patch() -> Patch:
    """A patch of the built-in synth."""
    return Patch.from_params(find_definition("builtin"), np.full(20, 0.5), distance=0.1, note=60, method="agent",
                             target="$(touch /tmp/pwned).wav")


def test_a_bare_name_is_saved_in_the_patch_folder_with_json_added(patch: Patch, tmp_path: Path) -> None:
    folder = tmp_path / "not" / "yet" / "there"
    written = save_patch(patch, folder, "lead")
    assert written == folder / "lead.json"
    assert save_patch(patch, folder, "lead.json") == written
    assert read_patch(written) == patch
    assert sorted(p.name for p in folder.iterdir()) == ["lead.json"]  # no temporary file left behind


@pytest.mark.parametrize("name", [
    "../escape", "sub/lead", "/etc/passwd", "..", ".", ".hidden", "", "a\\b", "~/.bashrc", "lead\x00.json",
    "x" * 101, "$(reboot)",
])
def test_names_that_are_not_bare_are_refused(patch: Patch, tmp_path: Path, name: str) -> None:
    folder = tmp_path / "patches"
    with pytest.raises(PatchError, match="is not a patch name: give a bare name"):
        save_patch(patch, folder, name)
    assert not any(tmp_path.rglob("*.json"))


def test_only_another_patch_file_is_replaced(patch: Patch, tmp_path: Path) -> None:
    precious = tmp_path / "notes.json"
    precious.write_text('{"mine": true}\n')
    with pytest.raises(PatchError, match="notes.json: exists and is not a synthmatch patch file"):
        save_patch(patch, tmp_path, "notes")
    with pytest.raises(PatchError, match="is not a synthmatch patch file"):
        write_patch(patch, precious)  # `synthmatch match --out` follows the same rule
    assert precious.read_text() == '{"mine": true}\n'
    (tmp_path / "link.json").symlink_to(precious)
    with pytest.raises(PatchError, match="link.json: exists and is not a plain file"):
        save_patch(patch, tmp_path, "link")
    assert precious.read_text() == '{"mine": true}\n'
    first = save_patch(patch, tmp_path, "lead")
    save_patch(patch, tmp_path, "lead")  # a patch over a patch is fine
    assert read_patch(first) == patch


def test_the_default_patch_folder_follows_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_patch_dir() == tmp_path / "synthmatch" / "patches"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_patch_dir() == Path.home() / ".local" / "share" / "synthmatch" / "patches"


def test_a_replaced_file_keeps_its_mode_and_a_new_one_gets_the_umask_default(tmp_path: Path) -> None:
    private = tmp_path / "private.json"
    private.write_text("old")
    private.chmod(0o600)
    write_atomically(private, "new")
    assert private.read_text() == "new" and stat.S_IMODE(private.stat().st_mode) == 0o600
    old_umask = os.umask(0o027)
    try:
        fresh = write_atomically(tmp_path / "fresh.bin", b"\x00\x01")
    finally:
        os.umask(old_umask)
    assert fresh.read_bytes() == b"\x00\x01" and stat.S_IMODE(fresh.stat().st_mode) == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="checker said no"), replacing(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("checker said no")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_a_write_failure_names_the_file_and_the_fix_not_the_temporary_file(tmp_path: Path) -> None:
    with pytest.raises(FileWriteError) as caught:
        write_atomically(tmp_path / "missing" / "lead.json", "{}")
    message = str(caught.value)
    assert message == (f"{tmp_path / 'missing' / 'lead.json'}: cannot write it (no such file or directory); "
                       "the folder does not exist; create it first")
    (tmp_path / "plain").write_text("")
    with pytest.raises(FileWriteError, match=r"plain/x.json: cannot write it \(not a directory\); a part of"):
        write_atomically(tmp_path / "plain" / "x.json", "{}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_named_with_the_fix(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(FileWriteError, match=r"lead.json: cannot write it \(permission denied\); no permission"):
            write_atomically(locked / "lead.json", "{}")
    finally:
        locked.chmod(0o700)
