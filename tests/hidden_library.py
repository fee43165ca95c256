"""Processes started by a test that see a machine without a shared library, as a ``sitecustomize`` makes them see it.

The hook is installed ahead of every other importer and fails the import of the named modules with the exception
their binding raises where the library is not installed; tests use it for the daemon without PortAudio and the
commands without ALSA's library.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: The ``sitecustomize`` that hides the library: {modules} and {error} filled in by :func:`hide_library`.
HOOK = '''
import sys


class HiddenLibrary:
    """Finds {modules} by raising what they raise where their library is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {modules!r}:
            raise {error}
        return None


sys.meta_path.insert(0, HiddenLibrary())
'''


def hide_library(folder: Path, monkeypatch: pytest.MonkeyPatch, modules: tuple[str, ...], error: str) -> Path:
    """Make the processes started from here on fail ``import`` of ``modules`` (and their submodules) with ``error``
    (a Python expression); returns ``folder``, which holds the hook and is their PYTHONPATH."""
    (folder / "sitecustomize.py").write_text(HOOK.format(modules=modules, error=error))
    monkeypatch.setenv("PYTHONPATH", str(folder))
    return folder
