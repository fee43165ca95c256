"""`synthmatch daemon`: load the synth and its model, open the rig, serve OSC commands (and, with ``--view``, the
live view) until SIGINT or SIGTERM.

Everything that can be wrong with the setup (an unknown synth, a model that does not fit it, a busy port, a
missing MIDI port or audio device) is found at startup and ends the process with a one-line error. Once
serving, nothing a client sends stops it. SIGINT and SIGTERM shut it down in order: a running match is stopped
(its best patch applied), the OSC port and the view closed, then the MIDI/OSC/audio ports; nothing is left
half-written.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from pythonosc.dispatcher import Dispatcher

from synthmatch import __version__
from synthmatch.agent import OnnxAgent
from synthmatch.daemon.config import DaemonConfig, DaemonConfigError
from synthmatch.daemon.live_rig import LiveRig, open_live_rig, render_mode
from synthmatch.daemon.live_view import LiveView
from synthmatch.daemon.main_thread import MainThreadCalls, MainThreadSynth
from synthmatch.daemon.match_session import MatchSession
from synthmatch.daemon.osc_commands import OscCommands
from synthmatch.daemon.osc_out import parse_osc_target
from synthmatch.daemon.osc_server import OscServer
from synthmatch.daemon.osc_subscribers import SubscriptionError
from synthmatch.definitions import SynthDefinition, find_definition
from synthmatch.features import MEL_CEILING_DB, FeatureSettings
from synthmatch.model_choice import MatcherChoice, choose_matcher
from synthmatch.patches import default_patch_dir
from synthmatch.synths import Synth

log = logging.getLogger("synthmatch.daemon")


def run_daemon(config: DaemonConfig) -> int:
    """Serve OSC commands as ``config`` says until SIGINT or SIGTERM; returns the exit status (0)."""
    logging.basicConfig(level=config.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s synthmatch %(levelname)s: %(message)s")
    definition = find_definition(config.synth)
    choice = choose_matcher(definition, config.model)  # ModelMismatch: a clear error before any port is opened
    model_dir = choice.model_dir
    agent = None if model_dir is None else OnnxAgent.load(model_dir, definition)
    if agent is None:
        log.warning("%s", choice.banner())
    if config.search > 1 and render_mode(definition, config.live_options()) == "live":
        raise DaemonConfigError(f"search = {config.search} renders {config.search} candidates at once, and a live "
                                "synth plays one note at a time: use search = 1 with --render live")
    rig = open_live_rig(definition, config.live_options())
    main_thread = MainThreadCalls()  # the matches' renders run here: VST3 plugins render on the main thread only
    try:
        synth = MainThreadSynth(rig.synth, main_thread)

        def synth_for(held: SynthDefinition) -> Synth:  # opened on the main thread too: VST3 plugins load there
            return MainThreadSynth(main_thread.call(rig.synth_for, held), main_thread)

        session = MatchSession(synth, agent, rig.sink, rig.record, candidates=config.search,
                               patch_dir=config.patch_dir, model_dir=model_dir, synth_for=synth_for,
                               level_by_volume=not rig.live)
        dispatcher = Dispatcher(strict_timing=False)  # never sleep in the network thread for a timed bundle
        server = OscServer(dispatcher, config.osc_host, config.osc_port)
        OscCommands(session, server.send, server.subscribers).register(dispatcher)
        view = None
        try:
            notify(server, config.notify)
            if config.view:
                features = FeatureSettings(sample_rate=synth.sample_rate) if agent is None else agent.features
                ceiling_db = MEL_CEILING_DB if agent is None else agent.mel_ceiling_db
                view = LiveView(session, str(model_dir or choice.banner()), features, (features.floor_db, ceiling_db),
                                config.osc_host, config.view_port,
                                plays_live=render_mode(definition, config.live_options()) == "live")
            with stop_on_signals() as stop:
                server.start()
                if view is not None:
                    view.start()
                print(describe(config, server, rig, choice, view), flush=True)
                main_thread.serve_until(stop)
            log.info("shutting down")
        finally:
            main_thread.close()  # first: a match waiting for a render then fails at once and keeps its best
            session.close()
            server.close()
            if view is not None:
                view.close()
    finally:
        rig.close()
    log.info("stopped")
    return 0


def notify(server: OscServer, targets: tuple[str, ...]) -> None:
    """Subscribe each ``--notify`` target (names are resolved now); one that cannot be is a DaemonConfigError."""
    for target in targets:
        try:
            server.subscribers.subscribe(*parse_osc_target(target), configured=True)
        except SubscriptionError as err:
            raise DaemonConfigError(f"--notify {target}: {err}") from None


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while inside; the previous handlers are restored on the way out."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("%s received", signal.Signals(signum).name)
        stop.set()

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def describe(
    config: DaemonConfig, server: OscServer, rig: LiveRig, choice: MatcherChoice, view: LiveView | None = None
) -> str:
    """What the daemon prints at startup: where it listens, what it matches on, where patches go, the view's URL."""
    definition = rig.synth.definition
    live = render_mode(definition, config.live_options()) == "live"
    sends = [f"MIDI port {config.midi_port} ({config.midi_api})"] if config.midi_port else []
    sends += [f"OSC to {config.osc_target}"] if config.osc_target else []
    host = f"[{server.host}]" if ":" in server.host else server.host  # an IPv6 address
    return "\n".join([
        f"synthmatch daemon {__version__}",
        f"  listening   OSC on udp://{host}:{server.port} (replies go to each sender and subscriber; see docs/osc.md)",
        *([f"  notifying   {', '.join(server.subscribers.labels())} (every reply and progress message)"]
          if config.notify else []),
        *([f"  view        {view.url} (see docs/live-view.md)"] if view is not None else []),
        f"  synth       {definition.name} ({definition.kind}, {len(definition.parameters)} parameters, "
        f"{'played live and recorded' if live else 'rendered in-process'})",
        f"  matches by  {choice.banner()}"
        + (f" (search: {config.search} candidates a step)" if config.search > 1 and choice.model_dir else ""),
        f"  patches to  {', '.join(sends) if sends else 'nowhere else (no --midi-port, no --osc-target)'}",
        f"  saved in    {config.patch_dir or default_patch_dir()} (/synthmatch/patch/save <name>)",
        "  stop with Ctrl-C or SIGTERM",
    ])
