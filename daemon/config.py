"""The daemon's options: defaults, then a TOML config file (``--config FILE``), then the command line.

Every option has the same name in the file and on the command line (``osc_port`` is ``--osc-port``), and is
defined once, here and in the rig's :class:`~synthmatch.daemon.live_rig.LiveOptions` that :class:`DaemonConfig`
extends: its type gives the valid values (and the command line's choices), its docstring the help. The file is a
flat TOML table, read by the loader both wings share (:mod:`synthmatch.settings_loader`); an unknown key or a bad
value is an error that names the file, the key, the value and what it must be.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal

from synthmatch.daemon.live_rig import HOST_PORT, NON_EMPTY, LiveOptions
from synthmatch.daemon.osc_server import DEFAULT_HOST, DEFAULT_PORT
from synthmatch.daemon.osc_subscribers import MAX_SUBSCRIBERS
from synthmatch.settings_loader import (
    Check,
    Range,
    SettingsError,
    add_arguments,
    given_options,
    load_settings,
    read_toml,
)

#: The live view's TCP port unless told otherwise (the OSC commands use UDP 9000).
DEFAULT_VIEW_PORT = 9001
Port = Annotated[int, Range(0, 65535)]
#: Metavars of the command-line options whose name's last word says too little.
METAVARS = {"synth": "NAME", "model": "DIR", "osc_target": "HOST:PORT", "notify": "HOST:PORT", "audio_device": "DEV",
            "audio_channel": "N", "search": "K"}
#: ``notify``: a few host:port strings.
NOTIFY_TARGETS = Check(lambda targets: len(targets) <= MAX_SUBSCRIBERS and all(map(HOST_PORT.test, targets)),
                       f"at most {MAX_SUBSCRIBERS} host:port strings, e.g. [\"127.0.0.1:9100\"]")


class DaemonConfigError(SettingsError):
    """A config file or option that cannot be used; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class DaemonConfig(LiveOptions):
    """Everything ``synthmatch daemon`` can be told; the defaults are the embedded daemon (no ports, no devices)."""

    synth: Annotated[str, NON_EMPTY] = "builtin"
    """Synth definition: a name or a TOML path."""
    model: Path | None = None
    """Model folder; None: the shipped model for the synth."""
    osc_host: Annotated[str, NON_EMPTY] = DEFAULT_HOST
    """Address to listen on for OSC commands; only this machine by default."""
    osc_port: Port = DEFAULT_PORT
    """UDP port to listen on; 0 picks a free one (printed at startup)."""
    notify: Annotated[tuple[str, ...], NOTIFY_TARGETS] = ()
    """host:port that every reply and progress message also goes to, as if it had sent /synthmatch/subscribe (any
    host; never dropped; docs/osc.md)."""
    search: Annotated[int, Range(1, 256)] = 1
    """Steps tried per match step: 1 is the agent's step alone; K > 1 also renders K - 1 variations and keeps the
    closest (agent+search: K renders a step, each step closer; no start bank, one-shot guess or polish then;
    in-process synths only)."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Least severe log lines printed to stderr."""
    view: bool = False
    """Serve the live view, a web page showing the match as it happens, on osc_host (docs/live-view.md)."""
    view_port: Port = DEFAULT_VIEW_PORT
    """TCP port of the live view; 0 picks a free one (printed at startup)."""
    patch_dir: Path | None = None
    """Folder that /synthmatch/patch/save writes into, the only one; None: $XDG_DATA_HOME/synthmatch/patches."""

    def live_options(self) -> LiveOptions:
        """The rig options these settings hold."""
        return LiveOptions(**{field.name: getattr(self, field.name) for field in fields(LiveOptions)})


def add_daemon_arguments(parser: argparse.ArgumentParser) -> None:
    """The daemon's options on ``parser``, one per field of :class:`DaemonConfig`, from its types and docstrings."""
    add_arguments(parser, DaemonConfig, METAVARS)


def load_config(path: Path | None, overrides: dict[str, Any]) -> DaemonConfig:
    """The defaults, updated by the TOML file at ``path`` (if any; its paths are relative to it), then ``overrides``."""
    config = DaemonConfig()
    if path is not None:
        data = read_toml(path, DaemonConfigError)
        if isinstance(data.get("midi_port"), int) and not isinstance(data["midi_port"], bool):
            data["midi_port"] = str(data["midi_port"])  # a port index
        config = load_settings(DaemonConfig, data, str(path), relative_to=path.parent, error=DaemonConfigError)
    return load_settings(DaemonConfig, overrides, "command line", base=config, error=DaemonConfigError)


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The daemon options given on the command line (the others are None)."""
    return given_options(args, DaemonConfig)
