"""The one settings loader: types decide what a TOML file or the command line may say, and bad keys read the same."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import pytest

from synthmatch.daemon.config import DaemonConfigError
from synthmatch.daemon.config import load_config as load_daemon_config
from synthmatch.settings_loader import (
    Check,
    Range,
    SettingsError,
    add_arguments,
    given_options,
    load_settings,
    read_toml,
)


@dataclass(frozen=True)
class Inner:
    """A nested table."""

    rate: float = 0.5
    """A rate, any number."""


@dataclass(frozen=True)
class Example:
    """Settings of every kind the loader knows."""

    mode: Literal["fast", "slow"] = "fast"
    """How to go."""
    port: Annotated[int, Range(0, 99)] = 7
    """A port of 0..99."""
    loud: bool = False
    """Whether to shout."""
    target: Annotated[str | None, Check(lambda value: ":" in value, "host:port")] = None
    """Where to send."""
    folder: Path | None = None
    """A folder, relative to the file."""
    inner: Inner = field(default_factory=Inner)
    """The nested table."""

    def __post_init__(self) -> None:
        if self.loud and self.mode == "slow":
            raise ValueError("loud needs mode fast")


def test_a_file_gives_typed_values_paths_from_its_folder_and_nested_tables(tmp_path: Path) -> None:
    path = tmp_path / "example.toml"
    path.write_text('mode = "slow"\nport = 42\ntarget = "host:1"\nfolder = "sub"\n[inner]\nrate = 2\n')
    loaded = load_settings(Example, read_toml(path), str(path), relative_to=tmp_path)
    assert loaded == Example(mode="slow", port=42, target="host:1", folder=tmp_path / "sub", inner=Inner(2.0))
    assert isinstance(loaded.inner.rate, float)
    over = load_settings(Example, {"port": 3}, "command line", base=loaded)
    assert over.port == 3 and over.mode == "slow"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"prot": 1}, "here: unknown key 'prot'; did you mean port?"),
        ({"port": 100}, "here: port = 100 must be an integer in 0..99"),
        ({"port": True}, "here: port = True must be an integer in 0..99"),
        ({"mode": "medium"}, "here: mode = 'medium' must be one of fast, slow"),
        ({"loud": "yes"}, "here: loud = 'yes' must be true or false"),
        ({"target": "nowhere"}, "here: target = 'nowhere' must be host:port"),
        ({"inner": {"rat": 1.0}}, "here: inner: unknown key 'rat'; did you mean rate?"),
        ({"inner": 3}, "here: inner = 3 must be a table of settings"),
        ({"loud": True, "mode": "slow"}, "here: loud needs mode fast"),
    ],
)
def test_bad_values_are_refused_in_one_line_naming_where_the_key_and_what_it_must_be(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(Example, data, "here")
    assert str(error.value) == message


def test_a_file_that_is_missing_or_not_toml_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="missing.toml: no such config file"):
        read_toml(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("port = [\n")
    with pytest.raises(SettingsError, match="bad.toml: not valid TOML"):
        read_toml(tmp_path / "bad.toml")


def test_the_command_line_takes_its_options_choices_and_help_from_the_types(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="example")
    add_arguments(parser, Example, {"target": "HOST:PORT"})
    args = parser.parse_args(["--mode", "slow", "--port", "5", "--folder", "out"])
    given = given_options(args, Example)
    assert given == {"mode": "slow", "port": 5, "folder": Path("out")}
    assert load_settings(Example, given, "command line") == Example(mode="slow", port=5, folder=Path("out"))
    assert given_options(parser.parse_args(["--loud"]), Example) == {"loud": True}
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "medium"])
    assert "argument --mode: invalid choice: 'medium'" in capsys.readouterr().err
    help_text = " ".join(parser.format_help().split())
    assert "--inner" not in help_text  # a table is the file's business
    assert "--target HOST:PORT Where to send." in help_text and "A port of 0..99. (default: 7)" in help_text


def test_a_check_that_raises_on_a_value_is_the_loaders_clear_error(tmp_path: Path) -> None:
    """A Check whose test fails on the value itself (here int() on 5000 digits) refuses it naming the file, the
    key and the value, instead of letting the test's exception out."""
    @dataclass(frozen=True)
    class Target:
        """One checked setting."""

        target: Annotated[str, Check(lambda value: 0 < int(value.rpartition(":")[2]) < 65536, "host:port")] = "a:1"
        """Where to send."""

    value = "localhost:" + "9" * 5000
    with pytest.raises(SettingsError, match=r"^config.toml: target = 'localhost:9999.*' must be host:port$"):
        load_settings(Target, {"target": value}, "config.toml")
    path = tmp_path / "daemon.toml"
    path.write_text(f'osc_target = "{value}"\n')
    with pytest.raises(DaemonConfigError, match="osc_target = .* must be host:port"):
        load_daemon_config(path, {})  # the daemon's own host:port check is one such test
