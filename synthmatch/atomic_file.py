"""Atomic file writes: a reader sees the old file or the new one, never half of one, even after a crash.

The one way synthmatch replaces a file (patches, definitions, models, metadata, checkpoints): write a temporary
file in the same folder, fsync it, rename it over the target, fsync the folder. The new file keeps the mode of
the file it replaces, or gets the umask's default like any new file; a failure names the target, not the
temporary file, and says what to do.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: What to do about the usual reasons a write fails, by errno.
_FIXES = {
    errno.EACCES: "no permission to write in that folder; choose another folder or fix its permissions",
    errno.EPERM: "no permission to write in that folder; choose another folder or fix its permissions",
    errno.ENOENT: "the folder does not exist; create it first",
    errno.ENOTDIR: "a part of the folder's path is a file, not a folder",
    errno.ENOSPC: "the disk is full; free some space",
    errno.EDQUOT: "the disk quota is exhausted; free some space",
    errno.EROFS: "the file system is read-only; write somewhere else",
    errno.EISDIR: "a folder has that name; choose another name",
}


class FileWriteError(OSError):
    """A file could not be written; the message names the file (never the temporary one) and the fix."""


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a new, empty temporary file next to ``path``; write it, and on leaving it atomically replaces ``path``.

    If the block raises, ``path`` is left as it was and the temporary file is removed.
    """
    path = Path(path)
    temporary = _create_temporary(path)
    try:
        yield temporary
        _install(temporary, path)
    except OSError as err:
        temporary.unlink(missing_ok=True)
        if isinstance(err, FileWriteError):
            raise
        raise FileWriteError(_describe(path, err)) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def check_replaceable(
    path: Path, kind: str, is_kind: Callable[[Path], bool], error: type[Exception], example: str
) -> None:
    """Refuse (``error``, one line) to write ``path`` unless it is new in an existing folder, or a plain file that
    ``is_kind`` recognises as a ``kind``: what the user or another program keeps there is never replaced.

    ``example`` is a file name to suggest when ``path`` is a folder.
    """
    if path.is_dir():
        raise error(f"{path}: is a folder; give a file name such as {path / example}")
    if not path.parent.is_dir():
        raise error(f"{path.parent}: no such folder; create it first or write the file elsewhere")
    if not (path.is_symlink() or path.exists()):
        return
    if path.is_symlink() or not path.is_file():
        raise error(f"{path}: exists and is not a plain file, so it is left alone; choose another name")
    try:
        recognised = is_kind(path)
    except OSError as err:
        raise error(f"{path}: exists and cannot be read ({err.strerror}); choose another name") from None
    if not recognised:
        raise error(f"{path}: exists and is not a {kind}, so it is left alone; choose another name")


def write_atomically(path: str | Path, data: str | bytes) -> Path:
    """Replace ``path`` with ``data`` (text is written as UTF-8) atomically; returns the path."""
    path = Path(path)
    with replacing(path) as temporary:
        temporary.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _create_temporary(path: Path) -> Path:
    """A new empty file ``.NAME.RANDOM.tmp`` beside ``path``, with the umask's default mode."""
    for _ in range(100):
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
        except FileExistsError:
            continue
        except OSError as err:
            raise FileWriteError(_describe(path, err)) from None
        return temporary
    raise FileWriteError(f"{path}: cannot write it: no free temporary name in {path.parent}")


def _install(temporary: Path, path: Path) -> None:
    """fsync ``temporary``, give it the mode of the file it replaces, rename it to ``path``, fsync the folder."""
    descriptor = os.open(temporary, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        old = os.stat(path)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISREG(old.st_mode):
            os.chmod(temporary, stat.S_IMODE(old.st_mode))
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _describe(path: Path, err: OSError) -> str:
    """One line for a failed write of ``path``: the file, the system's reason, and the fix when there is one."""
    reason = (err.strerror or str(err)).lower()
    fix = _FIXES.get(err.errno or 0)
    return f"{path}: cannot write it ({reason}){'; ' + fix if fix else ''}"
