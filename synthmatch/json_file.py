"""Read a JSON file that must hold one object, or say in one line why not (patch files, manifests, metadata)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def read_json_object(
    path: Path, error: type[Exception], *, missing: str, unreadable: Callable[[Exception], str], not_object: str,
    missing_error: type[Exception] | None = None,
) -> dict[str, Any]:
    """The JSON object in the file ``path``; otherwise ``error`` with the caller's own one-line wording.

    ``missing`` when there is no such file (raised as ``missing_error`` where that is given, e.g.
    FileNotFoundError), ``unreadable(reason)`` when it cannot be read or parsed, ``not_object`` when it holds JSON
    that is not an object. No traceback is chained: the message says it all.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise (missing_error or error)(missing) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise error(unreadable(err)) from None
    if not isinstance(data, dict):
        raise error(not_object)
    return data
