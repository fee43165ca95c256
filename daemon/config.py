"""The daemon's options: defaults, then a TOML config file (``--config FILE``), then the command line.

Every option has the same name in the file and on the command line (``osc_port`` is ``--osc-port``). The file is
a flat TOML table; an unknown key or a value of the wrong type is an error that names the key and the valid ones.
"""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from synthmatch.daemon.live_rig import LiveOptions
from synthmatch.daemon.live_view import DEFAULT_VIEW_PORT
from synthmatch.daemon.osc_server import DEFAULT_HOST, DEFAULT_PORT

MIDI_APIS = ("auto", "alsa", "jack")
RENDER_MODES = ("auto", "in-process", "live")
LOG_LEVELS = ("debug", "info", "warning", "error")


class DaemonConfigError(ValueError):
    """A config file or option that cannot be used; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class DaemonConfig:
    """Everything ``synthmatch daemon`` can be told; the defaults are the embedded daemon (no ports, no devices)."""

    synth: str = "builtin"
    """Synth definition: a name or a TOML path."""
    model: Path | None = None
    """Model folder; None: the shipped model for the synth."""
    osc_host: str = DEFAULT_HOST
    """Address to listen on for OSC commands; only this machine by default."""
    osc_port: int = DEFAULT_PORT
    """UDP port to listen on; 0 picks a free one (printed at startup)."""
    midi_port: str | None = None
    """MIDI output port for parameter changes: name, index, or "virtual"; None: no MIDI."""
    midi_api: Literal["auto", "alsa", "jack"] = "auto"
    """MIDI system; auto tries ALSA, then JACK."""
    osc_target: str | None = None
    """host:port to send parameter changes to over OSC; None: none."""
    audio_device: str | None = None
    """Audio input device for live synths and target recording (name or index); None: the default input."""
    audio_channel: int = 1
    """Input channel to record, 1-based."""
    render: Literal["auto", "in-process", "live"] = "auto"
    """auto: in-process for builtin/vst3 synths, live (play and record) for external ones."""
    search: int = 1
    """Steps tried per match step: 1 is the agent's step alone; K > 1 also renders K - 1 variations and keeps the
    closest (agent+search: K renders a step, closer matches; in-process synths only)."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Least severe log lines printed to stderr."""
    view: bool = False
    """Serve the live view, a web page showing the match as it happens, on osc_host."""
    view_port: int = DEFAULT_VIEW_PORT
    """TCP port of the live view; 0 picks a free one (printed at startup)."""
    patch_dir: Path | None = None
    """Folder that /synthmatch/patch/save writes into, the only one; None: $XDG_DATA_HOME/synthmatch/patches."""

    def live_options(self) -> LiveOptions:
        """The rig options these settings describe."""
        return LiveOptions(
            render=self.render, midi_port=self.midi_port, midi_api=self.midi_api, osc_target=self.osc_target,
            audio_device=self.audio_device, audio_channel=self.audio_channel,
        )


#: Options that take one of a few words.
CHOICES: dict[str, tuple[str, ...]] = {"midi_api": MIDI_APIS, "render": RENDER_MODES, "log_level": LOG_LEVELS}
KEYS = tuple(f.name for f in fields(DaemonConfig))


def load_config(path: Path | None, overrides: dict[str, Any]) -> DaemonConfig:
    """The defaults, updated by the TOML file at ``path`` (if any), then by ``overrides``."""
    config = checked_config(read_config_file(path), str(path)) if path is not None else DaemonConfig()
    return checked_config(overrides, "command line", config)


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The daemon options given on the command line (argparse leaves the others None)."""
    return {key: getattr(args, key) for key in KEYS if getattr(args, key, None) is not None}


def read_config_file(path: Path) -> dict[str, Any]:
    """The key/value pairs of a daemon config file; DaemonConfigError for a missing, broken or unknown one."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DaemonConfigError(f"{path}: no such config file; check the path given to --config") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DaemonConfigError(f"{path}: cannot read it ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise DaemonConfigError(f"{path}: not valid TOML ({err})") from None
    unknown = [key for key in data if key not in KEYS]
    if unknown:
        raise DaemonConfigError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; "
                                f"valid keys: {', '.join(KEYS)}")
    for key in ("model", "patch_dir"):
        if isinstance(data.get(key), str):
            data[key] = path.parent / Path(data[key]).expanduser()  # relative to the file, like include paths
    return data


def checked_config(values: dict[str, Any], where: str, config: DaemonConfig | None = None) -> DaemonConfig:
    """``config`` (or the defaults) updated by ``values``, each checked; a DaemonConfigError names ``where``,
    the key, the value and the fix."""
    config = config or DaemonConfig()
    for key, value in values.items():
        config = replace(config, **{key: _checked_value(key, value, where)})
    return config


def _checked_value(key: str, value: Any, where: str) -> Any:
    """One option's value in its type, checked against its range or choices."""
    bad = f"{where}: {key} = {value!r}"
    if key in CHOICES:
        if value not in CHOICES[key]:
            raise DaemonConfigError(f"{bad} must be one of {', '.join(CHOICES[key])}")
        return value
    if key == "view":
        if not isinstance(value, bool):
            raise DaemonConfigError(f"{bad} must be true or false")
        return value
    if key in ("osc_port", "view_port", "audio_channel", "search"):
        lowest, highest = (1, 256) if key in ("audio_channel", "search") else (0, 65535)
        if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
            raise DaemonConfigError(f"{bad} must be an integer in {lowest}..{highest}")
        return value
    if key in ("model", "patch_dir"):
        if not isinstance(value, str | Path) or not str(value):
            raise DaemonConfigError(f"{bad} must be a path (a string)")
        return Path(value).expanduser()
    if key == "midi_port" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a port index
    if not isinstance(value, str) or not value:
        raise DaemonConfigError(f"{bad} must be a non-empty string")
    if key == "osc_target":
        _check_host_port(value, bad)
    return value


def _check_host_port(value: str, bad: str) -> None:
    """Raise unless ``value`` is ``host:port`` with a port in 1..65535."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise DaemonConfigError(f"{bad} must be host:port, e.g. 127.0.0.1:9001")
