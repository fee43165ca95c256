"""The one loader of settings: a TOML file or the command line into a frozen dataclass, every key checked.

A settings class is a dataclass whose field types say what is valid: ``bool``, ``int``, ``float``, ``str``,
``Path``, a ``Literal`` of words, ``X | None``, a nested dataclass (a TOML table), optionally ``Annotated`` with a
:class:`Range` or a :class:`Check`. Each field's docstring is its help. Both wings load their options here (the
daemon's, a training run's), so a bad key reads the same everywhere, in one line: where, the key, the value, what
it must be. The same types give the command line its options (:func:`add_arguments`): choices, types, help.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from synthmatch.name_hints import did_you_mean

T = TypeVar("T")


class SettingsError(ValueError):
    """A settings file or option that cannot be used; the one-line message names where, the key and the fix."""


@dataclass(frozen=True)
class Range:
    """``Annotated[int, Range(lowest, highest)]``: an integer from ``lowest`` to ``highest`` inclusive."""

    lowest: int
    highest: int


@dataclass(frozen=True)
class Check:
    """``Annotated[str, Check(test, "host:port")]``: a value that ``test`` accepts, described as ``must_be``."""

    test: Callable[[Any], bool]
    must_be: str


def read_toml(path: Path, error: type[ValueError] = SettingsError) -> dict[str, Any]:
    """The table of the TOML file at ``path``; ``error`` (one line) when it is missing, unreadable or not TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: no such config file; check the path") from None
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{path}: cannot read it ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise error(f"{path}: not valid TOML ({err})") from None


def load_settings(
    cls: type[T], data: Mapping[str, Any], where: str, base: T | None = None, relative_to: Path | None = None,
    error: type[ValueError] = SettingsError,
) -> T:
    """``base`` (else ``cls``'s defaults) with ``data``'s keys replaced, each checked against its field's type.

    Paths are taken from ``relative_to`` when given (a file's folder). A bad key, value or combination raises
    ``error`` naming ``where``.
    """
    hints = typing.get_type_hints(cls, include_extras=True)
    names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for key in data:
        if key not in names:
            raise error(f"{where}: unknown key {key!r}{did_you_mean(key, names)}")
    values = {key: _value(hints[key], value, f"{where}: {key}", relative_to, error) for key, value in data.items()}
    try:
        return dataclasses.replace(base, **values) if base is not None else cls(**values)  # type: ignore[type-var]
    except ValueError as err:
        raise error(f"{where}: {err}") from None


def choices(kind: Any) -> tuple[str, ...] | None:
    """The words a ``Literal`` field type (maybe ``Annotated`` or optional) allows; None for any other type."""
    kind = _plain(kind)
    return tuple(typing.get_args(kind)) if typing.get_origin(kind) is Literal else None


def field_help(cls: type) -> dict[str, str]:
    """Each field's docstring (the string under it in the class body), inherited ones included, by field name."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0]
        assert isinstance(body, ast.ClassDef)
        for statement, following in zip(body.body, body.body[1:], strict=False):
            if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                    and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)):
                found[statement.target.id] = " ".join(str(following.value.value).split())
    return found


def add_arguments(parser: argparse.ArgumentParser, cls: type, names: Mapping[str, str] | None = None) -> None:
    """One option per field of ``cls`` (``osc_port`` is ``--osc-port``; not the nested tables), typed as its type says.

    Every option defaults to None, so :func:`given_options` tells which were given; ``names`` maps a field to its
    metavar. The help is the field's docstring and its default; the class's own fields come before inherited ones.
    """
    hints = typing.get_type_hints(cls, include_extras=True)
    helps = field_help(cls)
    own = cls.__dict__.get("__annotations__", {})
    for field in sorted(dataclasses.fields(cls), key=lambda f: f.name not in own):  # the class's own first
        kind, flag = _plain(hints[field.name]), "--" + field.name.replace("_", "-")
        if dataclasses.is_dataclass(kind):  # a table: the file's business
            continue
        default = field.default if field.default is not dataclasses.MISSING else None
        shown = "" if default in (None, False, ()) else f" (default: {default})"
        text = (helps.get(field.name, "") + shown).replace("%", "%%")
        if kind is bool:
            parser.add_argument(flag, action="store_true", default=None, help=text)
            continue
        metavar = (names or {}).get(field.name, field.name.split("_")[-1].upper())
        words = choices(kind)
        if typing.get_origin(kind) is tuple:  # repeatable: each use adds one item
            parser.add_argument(flag, action="append", type=typing.get_args(kind)[0], metavar=metavar,
                                help=text + " (repeatable)")
        elif words is not None:
            parser.add_argument(flag, choices=words, help=text)
        else:
            parser.add_argument(flag, type=kind if kind in (int, float, Path) else str, metavar=metavar, help=text)


def given_options(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` given on the command line (:func:`add_arguments` leaves the others None)."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}


def _plain(kind: Any) -> Any:
    """The field type without ``Annotated`` and without ``| None``."""
    if typing.get_origin(kind) is Annotated:
        kind = typing.get_args(kind)[0]
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        members = [member for member in typing.get_args(kind) if member is not type(None)]
        kind = members[0] if len(members) == 1 else kind
    return kind


def _tuple_value(kind: Any, value: Any) -> tuple[bool, str, Any]:
    """(valid, what it must be, value as a tuple) for a ``tuple[float, float]``, ``tuple[int, ...]`` or
    ``tuple[str, ...]`` field."""
    items = typing.get_args(kind)
    item = items[0]
    count = None if len(items) == 2 and items[1] is Ellipsis else len(items)
    kinds = {int: (int, "integers"), str: (str, "strings")}.get(item, ((int, float), "numbers"))
    must_be = f"a list of {count or 'one or more'} {kinds[1]}"
    ok = (isinstance(value, list | tuple) and len(value) == (count or max(len(value), 1))
          and all(isinstance(v, kinds[0]) and not isinstance(v, bool) for v in value))
    return ok, must_be, tuple(item(v) for v in value) if ok else value


def _passes(check: Check, value: Any) -> bool:
    """Whether ``check`` accepts ``value``; a test that raises on it (a port of 5000 digits) refuses it."""
    try:
        return bool(check.test(value))
    except Exception:  # any error in a test means "not what it must be": said with the key, not as a traceback
        return False


def _value(kind: Any, value: Any, where: str, relative_to: Path | None, error: type[ValueError]) -> Any:
    """``value`` as field type ``kind`` wants it; ``error`` saying what it must be otherwise."""
    extras = typing.get_args(kind)[1:] if typing.get_origin(kind) is Annotated else ()
    plain = _plain(kind)
    if dataclasses.is_dataclass(plain):
        if not isinstance(value, Mapping):
            raise error(f"{where} = {value!r} must be a table of settings")
        return load_settings(plain, value, where, relative_to=relative_to, error=error)  # type: ignore[arg-type]
    words = choices(plain)
    limits = next((extra for extra in extras if isinstance(extra, Range)), None)
    check = next((extra for extra in extras if isinstance(extra, Check)), None)
    if words is not None:
        ok, must_be = value in words, f"one of {', '.join(words)}"
    elif plain is bool:
        ok, must_be = isinstance(value, bool), "true or false"
    elif plain is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok and (limits is None or limits.lowest <= value <= limits.highest)
        must_be = "an integer" + (f" in {limits.lowest}..{limits.highest}" if limits else "")
    elif plain is float:
        ok, must_be = isinstance(value, int | float) and not isinstance(value, bool), "a number"
        value = float(value) if ok else value
    elif typing.get_origin(plain) is tuple:
        ok, must_be, value = _tuple_value(plain, value)
    elif plain is Path:
        ok, must_be = isinstance(value, str | Path) and bool(str(value)), "a path (a string)"
        if ok:
            value = Path(value).expanduser() if relative_to is None else relative_to / Path(value).expanduser()
    else:
        ok, must_be = isinstance(value, str), "a string"
    if ok and check is not None:
        ok, must_be = _passes(check, value), check.must_be
    if not ok:
        raise error(f"{where} = {value!r} must be {must_be}")
    return value
