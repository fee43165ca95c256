"""The daemon's OSC transport: a UDP server that routes each message through a python-osc Dispatcher.

Routing is python-osc's (``Dispatcher.map(address, handler, needs_reply_address=True)``); this module adds what
python-osc leaves out: every packet it cannot use is answered. Each datagram (up to the UDP maximum) is checked whole
by :func:`~synthmatch.daemon.osc_packets.read_packet` before python-osc parses a message of it, so malformed bundles,
unknown type tags and garbage are refused as one, and nothing of it runs. Refused datagrams, unknown addresses (when
the dispatcher has no default handler), address patterns and handlers that raise all get ``ERROR_ADDRESS <address>
<message>`` and a log line, and the server keeps serving. A handler's return value ``(address, *args)`` is sent
back at once; later replies go through :meth:`OscServer.send`. Replies go to the sender's address and port, from
the server's own port, and to every subscriber (:mod:`synthmatch.daemon.osc_subscribers`), never waiting.
Messages are handled one at a time on the server's thread, so handlers must be quick.
"""

from __future__ import annotations

import logging
import socket
import socketserver
from typing import Any, cast

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg

from synthmatch.daemon.background_server import BackgroundServer
from synthmatch.daemon.osc_packets import MAX_DATAGRAM_BYTES, PacketError, read_packet
from synthmatch.daemon.osc_subscribers import Subscribers, is_loopback

log = logging.getLogger(__name__)

#: Where failures are reported: ``ERROR_ADDRESS <address> <message>`` ("" as the address of a garbage packet).
ERROR_ADDRESS = "/synthmatch/error"
#: The default address the daemon listens on; only this machine can reach it.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
#: Characters of an OSC address pattern; commands need the exact address.
PATTERN_CHARACTERS = frozenset("*?[]{}")
#: Errors that a bad request causes: answered and logged in one line. Anything else is a bug: logged with its trace.
REQUEST_ERRORS = (ValueError, RuntimeError, OSError)
#: Longest address and message an error reply carries; longer ones lose their middle, so the reply fits a datagram.
ERROR_TEXT_CHARS = 1000

Client = tuple[str, int]


class _Datagram(socketserver.BaseRequestHandler):
    """socketserver's handler for one datagram: hands it to the server's router."""

    def handle(self) -> None:
        data, _ = self.request
        cast(OscServer, self.server).route(data, self.client_address)


class OscServer(BackgroundServer, socketserver.UDPServer):
    """A UDP OSC server on ``host:port`` that answers every message it cannot handle with an error reply."""

    allow_reuse_address = False
    max_packet_size = MAX_DATAGRAM_BYTES
    thread_name = "synthmatch-osc"

    def __init__(self, dispatcher: Dispatcher, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        """Bind ``host:port`` (port 0: any free port, see :attr:`host` and :attr:`port`); route with ``dispatcher``."""
        self.dispatcher = dispatcher
        self.subscribers = Subscribers(host, port)
        """Where every reply also goes (``/synthmatch/subscribe``, ``--notify``)."""
        try:
            self.address_family, address = resolve_udp(host, port)
            super().__init__(address, _Datagram)
        except OSError as err:
            raise OSError(
                f"cannot listen for OSC on {host}:{port}: {err.strerror or err}; another daemon may be running "
                "there: stop it, or choose another port with --osc-port"
            ) from None
        if not is_loopback(host):
            log.warning("listening on %s:%d: any machine that reaches it can drive the daemon", host, self.port)
        self.subscribers.own_port = self.port  # the real one when 0 was asked for

    @property
    def host(self) -> str:
        """The address the server is bound to."""
        return str(self.server_address[0])

    @property
    def port(self) -> int:
        """The UDP port the server is bound to (the real one when 0 was asked for)."""
        return int(self.server_address[1])


    def send(self, client: Client, address: str, *args: Any) -> None:
        """Send ``address args...`` to ``client`` and to every subscriber, never waiting; a client that is gone is
        logged, never raised. An error's texts are cut to ERROR_TEXT_CHARS, so that it fits a datagram whatever the
        request echoed."""
        if address == ERROR_ADDRESS:
            args = tuple(_cut(arg) if isinstance(arg, str) else arg for arg in args)
        datagram = build_msg(address, list(args)).dgram
        try:
            self.socket.sendto(datagram, socket.MSG_DONTWAIT, client)
        except OSError as err:
            log.warning("could not reply %s to %s:%d: %s", address, client[0], client[1], err)
        self.subscribers.send(datagram, skip=client)

    def route(self, data: bytes, client: Client) -> None:
        """Handle one datagram from ``client``: each message in it goes to its handler; failures are answered."""
        try:
            messages = read_packet(data)
        except PacketError as err:
            self._refuse(client, err.address, str(err))
            return
        for message in messages:
            self._dispatch(message, client)

    def _dispatch(self, message: OscMessage, client: Client) -> None:
        address = message.address
        if PATTERN_CHARACTERS.intersection(address):
            self._refuse(client, address, "address patterns (* ? [ ] { }) are not supported; send the exact address")
            return
        handlers = list(self.dispatcher.handlers_for_address(address))
        if not handlers:
            self._refuse(client, address, "unknown address")
            return
        for handler in handlers:
            try:
                reply = handler.invoke(client, message)
            except REQUEST_ERRORS as err:
                self._refuse(client, address, str(err))
            except Exception as err:
                log.exception("%s from %s:%d failed", address, *client)
                self.send(client, ERROR_ADDRESS, address, f"internal error: {type(err).__name__}: {err}")
            else:
                if reply is not None:
                    self.send(client, *reply)

    def _refuse(self, client: Client, address: str, message: str) -> None:
        """Answer a request that cannot be served, and log it (as cut as the reply)."""
        log.warning("%s from %s:%d: %s", _cut(address) or "packet", client[0], client[1], _cut(message))
        self.send(client, ERROR_ADDRESS, address, message)

    def server_close(self) -> None:
        """Close the listening socket and the subscribers' sockets."""
        super().server_close()
        self.subscribers.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log what escaped a handler (socketserver would print it to stderr) and keep serving."""
        log.exception("unexpected error while serving %s", client_address)


def resolve_udp(host: str, port: int) -> tuple[socket.AddressFamily, Any]:
    """The address family and socket address of ``host:port``, IPv4 first, so that "localhost" means the same
    address to the daemon and to its clients wherever the system lists ::1 first."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    family, _, _, _, address = min(found, key=lambda info: info[0] != socket.AF_INET)
    return family, address


def _cut(text: str) -> str:
    """``text``, or when it is longer than ERROR_TEXT_CHARS its start and its end (where the reason is) around "..."."""
    half = ERROR_TEXT_CHARS // 2
    return text if len(text) <= ERROR_TEXT_CHARS else f"{text[:half]} ... {text[-half:]}"
