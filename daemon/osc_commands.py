"""The daemon's OSC commands: one small handler per address, registered on a python-osc Dispatcher.

A handler checks its arguments, asks the :class:`~synthmatch.daemon.match_session.MatchSession`, and returns its
reply ``(address, *args)``; a command that runs in the session's worker (a load, a match, a recording) returns
nothing and its replies (loaded, progress, done, recorded, or an error) go out from the worker through the ``send``
function it was given, so they arrive in order and the network thread never waits on audio. It raises on bad
input, and the server turns that into ``/synthmatch/error <address> <message>``. It knows no socket. Every
address is documented in docs/osc.md.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pythonosc.dispatcher import Dispatcher

from synthmatch import __version__
from synthmatch.daemon.osc_server import ERROR_ADDRESS, Client
from synthmatch.daemon.osc_subscribers import Subscribers
from synthmatch.patch_exports import Exports
from synthmatch.patches import patch_path
from synthmatch.reach import reach_word

if TYPE_CHECKING:  # only types: `synthmatch send` imports the addresses below without numpy or onnxruntime
    from synthmatch.daemon.match_session import MatchSession
    from synthmatch.daemon.session_values import MatchOutcome, Target
    from synthmatch.matching import MatchProgress

log = logging.getLogger(__name__)

PREFIX = "/synthmatch"
PING, PONG = f"{PREFIX}/ping", f"{PREFIX}/pong"
TARGET_LOAD, TARGET_LOADED = f"{PREFIX}/target/load", f"{PREFIX}/target/loaded"
TARGET_RECORD, TARGET_RECORDED = f"{PREFIX}/target/record", f"{PREFIX}/target/recorded"
MATCH_START, PROGRESS, MATCH_DONE = f"{PREFIX}/match/start", f"{PREFIX}/progress", f"{PREFIX}/match/done"
MATCH_STOP, MATCH_STOPPING = f"{PREFIX}/match/stop", f"{PREFIX}/match/stopping"
STATUS = f"{PREFIX}/status"
PATCH_SAVE, PATCH_SAVED = f"{PREFIX}/patch/save", f"{PREFIX}/patch/saved"
PATCH_UNDO, PATCH_UNDONE = f"{PREFIX}/patch/undo", f"{PREFIX}/patch/undone"
SUBSCRIBE, SUBSCRIBED = f"{PREFIX}/subscribe", f"{PREFIX}/subscribed"
UNSUBSCRIBE, UNSUBSCRIBED = f"{PREFIX}/unsubscribe", f"{PREFIX}/unsubscribed"
#: Addresses the daemon only sends; one that arrives is another daemon's reply, logged and never answered, so that
#: two daemons subscribed to each other cannot answer each other forever (status is a request too).
REPLY_ONLY = (PONG, TARGET_LOADED, TARGET_RECORDED, PROGRESS, MATCH_DONE, MATCH_STOPPING, PATCH_SAVED, PATCH_UNDONE,
              SUBSCRIBED, UNSUBSCRIBED, ERROR_ADDRESS)

log = logging.getLogger(__name__)

Reply = tuple[Any, ...]
"""An OSC reply: ``(address, *args)``."""
Send = Callable[..., None]
"""``send(client, address, *args)``: sends one OSC message to ``client``."""


class CommandError(ValueError):
    """An OSC message with the wrong arguments; the message says what the address takes."""


@dataclass(frozen=True)
class Arg:
    """One argument an address takes: its name, its type, and whether it may be left out (only at the end)."""

    name: str
    kind: type[int] | type[float] | type[str]
    optional: bool = False

    def usage(self) -> str:
        """``<name: type>``, or ``[name: type]`` when optional."""
        text = f"{self.name}: {TYPE_NAMES[self.kind]}"
        return f"[{text}]" if self.optional else f"<{text}>"


TYPE_NAMES = {int: "int", float: "float", str: "string"}


def parse_args(address: str, args: tuple[Any, ...], *spec: Arg) -> list[Any]:
    """``args`` checked against ``spec``: a list with one value per Arg (None for a missing optional one).

    An int argument accepts a whole float (32.0); a float argument accepts an int. A CommandError gives the usage.
    """
    usage = " ".join([address, *(arg.usage() for arg in spec)])
    required = sum(not arg.optional for arg in spec)
    if not required <= len(args) <= len(spec):
        count = str(required) if required == len(spec) else f"{required} to {len(spec)}"
        raise CommandError(f"takes {count} argument(s), got {len(args)}; usage: {usage}")
    values: list[Any] = []
    for position, (arg, value) in enumerate(zip(spec, args, strict=False), start=1):
        checked = _checked(arg.kind, value)
        if checked is None:
            raise CommandError(
                f"argument {position} ({arg.name}) must be {TYPE_NAMES[arg.kind]}, got {_osc_type(value)} "
                f"{value!r}; usage: {usage}"
            )
        values.append(checked)
    return values + [None] * (len(spec) - len(args))


def _checked(kind: type, value: Any) -> int | float | str | None:
    """``value`` as ``kind``, or None when it is not one (bools are never numbers)."""
    if isinstance(value, bool):
        return None
    if kind is str:
        return value if isinstance(value, str) else None
    if kind is int:
        if isinstance(value, int):
            return value
        return int(value) if isinstance(value, float) and value.is_integer() else None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _osc_type(value: Any) -> str:
    """The name of an OSC argument's type, for error messages."""
    if isinstance(value, bool) or value is None:
        return "OSC " + {True: "true", False: "false", None: "nil"}[value]
    return {int: "int", float: "float", str: "string", bytes: "blob"}.get(type(value), type(value).__name__)


class OscCommands:
    """The handlers of every /synthmatch address, acting on one session and replying through ``send``."""

    def __init__(self, session: MatchSession, send: Send, subscribers: Subscribers) -> None:
        """Act on ``session``, reply through ``send``, keep subscriptions in ``subscribers`` (the server's)."""
        self.session = session
        self.send = send
        self.subscribers = subscribers
        self._exporting = threading.Lock()  # held while a patch/save's thread writes its preset or MIDI file

    def register(self, dispatcher: Dispatcher) -> None:
        """Map every address to its handler on ``dispatcher``; replies are ignored; anything else gets an
        unknown-address error."""
        for address, handler in self.routes().items():
            dispatcher.map(address, handler, needs_reply_address=True)
        for address in REPLY_ONLY:
            dispatcher.map(address, self.reply_arrived, needs_reply_address=True)
        dispatcher.set_default_handler(self.unknown, needs_reply_address=True)

    def routes(self) -> dict[str, Callable[..., Reply | None]]:
        """Address -> handler, for every command."""
        return {
            PING: self.ping,
            TARGET_LOAD: self.target_load,
            TARGET_RECORD: self.target_record,
            MATCH_START: self.match_start,
            MATCH_STOP: self.match_stop,
            STATUS: self.status,
            PATCH_SAVE: self.patch_save,
            PATCH_UNDO: self.patch_undo,
            SUBSCRIBE: self.subscribe,
            UNSUBSCRIBE: self.unsubscribe,
        }

    def reply_arrived(self, client: Client, address: str, *args: Any) -> None:
        """One of the daemon's own reply addresses: logged, never answered (see REPLY_ONLY)."""
        log.debug("ignored %s from %s:%d: a reply, not a request", address, client[0], client[1])

    def unknown(self, client: Client, address: str, *args: Any) -> Reply:
        """Any address without a handler."""
        raise CommandError(f"unknown address; the daemon answers {', '.join(self.routes())} (see docs/osc.md)")

    def ping(self, client: Client, address: str, *args: Any) -> Reply:
        """``/synthmatch/ping`` -> ``/synthmatch/pong <version>``."""
        parse_args(address, args)
        return PONG, __version__

    def target_load(self, client: Client, address: str, *args: Any) -> None:
        """``/synthmatch/target/load <path> [note]`` -> ``/synthmatch/target/loaded <path> <seconds>`` once loaded."""
        path, note = parse_args(address, args, Arg("path", str), Arg("note", int, optional=True))

        def done(target: Target) -> None:
            self.send(client, TARGET_LOADED, path, target.seconds)

        self.session.load_target(path, done, self._error_to(client, address), note)

    def target_record(self, client: Client, address: str, *args: Any) -> None:
        """``/synthmatch/target/record <seconds> [note]`` -> ``/synthmatch/target/recorded <seconds>`` once done."""
        seconds, note = parse_args(address, args, Arg("seconds", float), Arg("note", int, optional=True))

        def done(target: Target) -> None:
            self.send(client, TARGET_RECORDED, target.seconds)

        self.session.record_target(seconds, done, self._error_to(client, address), note)

    def _error_to(self, client: Client, address: str) -> Callable[[Exception], None]:
        """What tells ``client`` that its request to ``address`` failed in the worker."""
        return lambda err: self.send(client, ERROR_ADDRESS, address, str(err))

    def match_start(self, client: Client, address: str, *args: Any) -> None:
        """``/synthmatch/match/start [max_steps] [method]`` -> ``/synthmatch/progress <step> <distance>`` after every
        step, then ``/synthmatch/match/done <steps> <best_distance> <reach> <note_seconds> <gain_db>
        <start_distance>`` (or an error; the best patch is kept).

        ``method`` is any registered one (synthmatch.match_methods); by default the agent, or the search when the
        daemon has no model. ``reach`` says how close the best patch came in one word (synthmatch.reach);
        ``note_seconds`` is how long the synth held its note (the target's), ``gain_db`` the gain to apply after
        the synth to reach the target's level (synthmatch.output_level); ``start_distance`` that of the patch the
        match started from, so that a controller can say "from 0.52 to 0.11 (close)"."""
        max_steps, method = parse_args(address, args, Arg("max_steps", int, optional=True),
                                       Arg("method", str, optional=True))

        def progress(step: MatchProgress) -> None:
            self.send(client, PROGRESS, step.step, step.distance)

        def done(outcome: MatchOutcome) -> None:
            if outcome.error is None:
                self.send(client, MATCH_DONE, outcome.steps, outcome.best_distance, reach_word(outcome.best_distance),
                          outcome.note_seconds, outcome.gain_db, outcome.distance_start)
            else:
                self.send(client, ERROR_ADDRESS, address,
                          f"the match failed after {outcome.steps} steps, its best patch kept: {outcome.error}")

        self.session.start_match(max_steps, progress, done, method)

    def match_stop(self, client: Client, address: str, *args: Any) -> Reply:
        """``/synthmatch/match/stop`` -> ``/synthmatch/match/stopping <step>``; the starter then gets done."""
        parse_args(address, args)
        return MATCH_STOPPING, self.session.stop_match()

    def status(self, client: Client, address: str, *args: Any) -> Reply:
        """``/synthmatch/status`` -> ``/synthmatch/status <state> <step> <distance> <best_distance> <method>
        <note_seconds> <gain_db>``.

        ``method`` is what a match runs unless told another: "agent", or a search's name when there is no model.
        ``note_seconds``: how long the synth holds its note for the target; ``gain_db``: the gain to apply after
        the synth for the last match's best patch (NaN until a match has measured it).
        """
        parse_args(address, args)
        now = self.session.snapshot()
        return (STATUS, str(now.state), now.step, now.distance, now.best_distance, self.session.default_method,
                now.note_seconds, now.gain_db)

    def _exports_for(self, name: str, also: str) -> Exports:
        """The files beside patch ``name`` that ``also`` names, refused at once when the synth cannot have them."""
        return Exports.beside(patch_path(self.session.patch_dir, name), also).check_synth(self.session.definition)

    def patch_save(self, client: Client, address: str, *args: Any) -> Reply | None:
        """``/synthmatch/patch/save <name> [also]`` -> ``/synthmatch/patch/saved <path> <distance> [path...]``.

        ``also`` ("vstpreset", "mid" or both, comma-separated) writes those files beside the JSON too, in a thread of
        their own (a preset is read where the plugin renders); the reply, or an error, comes when they are written.
        """
        name, also = parse_args(address, args, Arg("name", str), Arg("also", str, optional=True))
        exports = None if also is None else self._exports_for(name, also)  # refused before anything is written
        if exports is not None and self._exporting.locked():
            raise CommandError("the files of the last patch/save are still being written; send it again after its "
                               "reply")
        patch, path = self.session.save_patch(name)
        if exports is None:
            return PATCH_SAVED, str(path), patch.distance

        def write() -> None:
            try:
                session = self.session  # the preset is read from its synth: in the daemon, on the main thread
                files = exports.write(session.definition, patch.params(session.definition), session.synth)
                log.info("patch also written to %s", ", ".join(map(str, files)))
            except Exception as err:
                log.warning("%s: %s saved, its other files not: %s", address, path, err)
                self.send(client, ERROR_ADDRESS, address, f"{path} saved, but not its other files: {err}")
            else:
                self.send(client, PATCH_SAVED, str(path), patch.distance, *map(str, files))
            finally:
                self._exporting.release()

        self._exporting.acquire()  # only this (the network) thread acquires it, and it was free: never waits
        threading.Thread(target=write, name="patch-save", daemon=True).start()
        return None

    def patch_undo(self, client: Client, address: str, *args: Any) -> Reply:
        """``/synthmatch/patch/undo`` -> ``/synthmatch/patch/undone``."""
        parse_args(address, args)
        self.session.undo()
        return (PATCH_UNDONE,)

    def subscribe(self, client: Client, address: str, *args: Any) -> Reply:
        """``/synthmatch/subscribe <port> [host]`` -> ``/synthmatch/subscribed <host> <port> <subscribers>``: every
        reply and progress message from now on also goes to ``host:port`` (``host``: the sender's by default)."""
        port, host = parse_args(address, args, Arg("port", int), Arg("host", str, optional=True))
        subscribed_host, subscribed_port = self.subscribers.subscribe(client[0] if host is None else host, port)
        return SUBSCRIBED, subscribed_host, subscribed_port, len(self.subscribers)

    def unsubscribe(self, client: Client, address: str, *args: Any) -> Reply:
        """``/synthmatch/unsubscribe [port] [host]`` -> ``/synthmatch/unsubscribed <removed> <subscribers>``; without
        a port, every subscriber on ``host`` (the sender's by default) goes."""
        port, host = parse_args(address, args, Arg("port", int, optional=True), Arg("host", str, optional=True))
        removed = self.subscribers.unsubscribe(client[0] if host is None else host, port)
        return UNSUBSCRIBED, removed, len(self.subscribers)
