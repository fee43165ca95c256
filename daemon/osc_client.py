"""`synthmatch send ADDRESS [ARGS...]`: send one OSC message to the daemon and print its replies.

Arguments are typed the shell-friendly way: ``42`` is an int, ``0.5`` a float, anything else a string; a prefix
forces a type (``s:42`` is the string "42", ``f:1`` the float 1.0, ``i:7`` the int 7). Each reply is printed as
one line, ``address arg arg ...``. The client waits until the command's final reply (done or an error for a
match, pong for a ping, ...) or until no reply has come for ``timeout`` seconds; it exits 1 when nothing came
back or the daemon answered with an error.
"""

from __future__ import annotations

import argparse
import math
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_packet import OscPacket, ParseError

from synthmatch.daemon.osc_commands import (
    MATCH_DONE,
    MATCH_START,
    MATCH_STOP,
    MATCH_STOPPING,
    PATCH_SAVE,
    PATCH_SAVED,
    PATCH_UNDO,
    PATCH_UNDONE,
    PING,
    PONG,
    STATUS,
    SUBSCRIBE,
    SUBSCRIBED,
    TARGET_LOAD,
    TARGET_LOADED,
    TARGET_RECORD,
    TARGET_RECORDED,
    UNSUBSCRIBE,
    UNSUBSCRIBED,
)
from synthmatch.daemon.osc_server import ERROR_ADDRESS, resolve_udp

#: The reply that ends each command's exchange; an error reply ends every one.
FINAL_REPLY = {
    PING: PONG, TARGET_LOAD: TARGET_LOADED, TARGET_RECORD: TARGET_RECORDED, MATCH_START: MATCH_DONE,
    MATCH_STOP: MATCH_STOPPING, STATUS: STATUS, PATCH_SAVE: PATCH_SAVED, PATCH_UNDO: PATCH_UNDONE,
    SUBSCRIBE: SUBSCRIBED, UNSUBSCRIBE: UNSUBSCRIBED,
}
TYPE_PREFIXES = {"s:": str, "i:": int, "f:": float}


def parse_argument(text: str) -> int | float | str:
    """A command-line word as an OSC argument: int, float or string, or the type its prefix forces."""
    kind = TYPE_PREFIXES.get(text[:2])
    if kind is not None:
        try:
            return kind(text[2:])
        except ValueError:
            raise ValueError(f"argument {text!r}: {text[2:]!r} is not {kind.__name__}") from None
    for number in (int, float):
        try:
            value = number(text)
        except ValueError:
            continue
        if math.isfinite(value):  # "nan" and "inf" stay strings
            return value
    return text


def format_reply(address: str, args: Sequence[Any]) -> str:
    """One reply as a line: ``address arg arg ...`` (floats in full, strings as they are)."""
    return " ".join([address, *(repr(a) if isinstance(a, float) else str(a) for a in args)])


def exchange(
    address: str, args: Sequence[Any], host: str, port: int, timeout: float
) -> Iterator[tuple[str, list[Any]]]:
    """Send ``address args`` to ``host:port`` and yield each reply until the final one or ``timeout`` s of silence."""
    if not address.startswith("/"):
        raise ValueError(f"OSC address {address!r} must start with '/', e.g. /synthmatch/ping")
    family, destination = resolve_udp(host, port)
    final = FINAL_REPLY.get(address)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.sendto(build_msg(address, list(args)).dgram, destination)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, _ = sock.recvfrom(65536)
            except TimeoutError:
                return
            try:
                messages = [timed.message for timed in OscPacket(data).messages]
            except ParseError:
                continue  # not OSC: not from the daemon
            for message in messages:
                yield message.address, list(message.params)
                if message.address in (final, ERROR_ADDRESS):
                    return
            deadline = time.monotonic() + timeout


def run_send(args: argparse.Namespace) -> int:
    """Send one message, print the replies; 0 if the daemon answered without an error, else 1."""
    values = [parse_argument(word) for word in args.args]
    timeout = args.timeout + (values[0] if args.address == TARGET_RECORD and values and
                              isinstance(values[0], int | float) else 0.0)
    replies = 0
    failed = False
    for address, params in exchange(args.address, values, args.host, args.port, timeout):
        print(format_reply(address, params), flush=True)
        replies += 1
        failed = failed or address == ERROR_ADDRESS
    if replies == 0:
        print(f"synthmatch send: no reply from {args.host}:{args.port} within {args.timeout:g} s; is "
              "`synthmatch daemon` running there?", file=sys.stderr)
    return 1 if failed or replies == 0 else 0
