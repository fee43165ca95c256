"""A small HTTP server for this machine's browsers: few threads, no hung connections, no DNS rebinding.

The live view serves through it. Three guards, each against something a stray client or a web page can do:

- **bounded threads**: at most ``max_connections`` connections are served at once, one thread each; when all
  are taken, the oldest connection that has not yet sent its request is closed to make room, and if every one
  is busy answering, the newcomer gets a one-line 503. Idle connections cannot pile up threads or descriptors.
- **deadlines**: a request must arrive whole within ``request_timeout_s`` of the connection, however slowly its
  bytes trickle in (a slowloris client), and the answer must go out within as long again; otherwise the
  connection is closed.
- **loopback Host only**: a request is answered only if its Host header names this machine (``127.0.0.1``,
  ``localhost``, ``[::1]``, or the address the server listens on) with the server's port; anything else gets
  421, so a web page that rebinds its own domain name to 127.0.0.1 cannot read the answers.
"""

from __future__ import annotations

import contextlib
import errno
import io
import ipaddress
import logging
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from synthmatch.daemon.background_server import BackgroundServer

log = logging.getLogger(__name__)

#: Connections served at once (each holds a thread); the page needs one every few hundred milliseconds.
MAX_CONNECTIONS = 8
#: Seconds for a request to arrive whole, and again for its answer to go out; a local browser needs milliseconds.
REQUEST_TIMEOUT_S = 5.0
#: Seconds a new connection waits for the slot of an idle connection that was just closed to make room for it.
EVICTION_WAIT_S = 1.0
#: Seconds the server stops accepting when the process is out of file descriptors, instead of spinning on accept.
ACCEPT_PAUSE_S = 0.5
#: Host names that always mean this machine; a Host header must name one of these (or the listening address).
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


class _DeadlineReader(io.RawIOBase):
    """A socket's input that gives up at a fixed moment, however slowly the bytes come."""

    def __init__(self, connection: socket.socket, deadline: float) -> None:
        self._connection, self._deadline = connection, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Read what has arrived into ``buffer``; TimeoutError once the deadline has passed."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._connection.settimeout(left)
        return self._connection.recv_into(buffer)


class LocalRequestHandler(BaseHTTPRequestHandler):
    """Reads one request under the server's deadline and answers it only for a loopback Host (else 421).

    Subclasses implement ``do_GET`` and the like as usual, and answer with :meth:`send_body`.
    """

    def setup(self) -> None:
        """Read the request through a deadline; writes get the same time again."""
        server = cast(LocalHTTPServer, self.server)
        super().setup()
        self.rfile.close()  # the plain reader; the socket stays open
        deadline = time.monotonic() + server.request_timeout_s
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, deadline))

    def parse_request(self) -> bool:
        """Parse the request line and headers; refuse a foreign Host before any ``do_*`` method runs."""
        server = cast(LocalHTTPServer, self.server)
        if not super().parse_request():
            return False
        server.request_arrived(self.connection)
        self.connection.settimeout(server.request_timeout_s)  # the answer's own deadline
        host = self.headers.get("Host")
        if not server.allows_host(host):
            log.warning("view: refused a request from %s for Host %r; only %s are answered",
                        self.client_address[0], host, ", ".join(sorted(server.allowed_hosts)))
            self.send_body(HTTPStatus.MISDIRECTED_REQUEST, "text/plain; charset=utf-8",
                           f"Host {host!r} is not this machine; open the page at "
                           f"http://127.0.0.1:{server.port}/\n".encode())
            return False
        return True

    def send_body(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        """Answer with ``body``, never cached."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("view %s: " + format, self.client_address[0], *args)


class LocalHTTPServer(BackgroundServer, ThreadingHTTPServer):
    """A threading HTTP server on ``address`` with the three guards of this module; serve with :meth:`start`."""

    daemon_threads = True
    request_queue_size = 64
    """Connections the kernel holds until they are accepted (socketserver's 5 makes a burst of clients wait)."""

    def __init__(self, address: tuple[Any, ...], handler: type[LocalRequestHandler],
                 max_connections: int = MAX_CONNECTIONS, request_timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        """Bind ``address`` (OSError if it is taken) and serve each connection with ``handler``."""
        self.request_timeout_s = request_timeout_s
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._waiting: dict[socket.socket, None] = {}  # connections whose request has not arrived, oldest first
        self._waiting_lock = threading.Lock()
        super().__init__(address, handler)
        self.port = int(self.server_address[1])
        names = _names_of_this_machine(str(self.server_address[0]))
        self.allowed_hosts = frozenset(f"{name}:{self.port}" for name in names)

    def allows_host(self, host: str | None) -> bool:
        """Whether a request with this Host header is answered (a port of 80 may be left out, as browsers do)."""
        if host is None:
            return False
        host = host.strip().lower()
        return host in self.allowed_hosts or (self.port == 80 and f"{host}:80" in self.allowed_hosts)

    def get_request(self) -> tuple[Any, Any]:
        """Accept a connection; out of file descriptors, pause a moment (the connection waits) rather than spin."""
        try:
            return super().get_request()
        except OSError as err:
            if err.errno in (errno.EMFILE, errno.ENFILE):
                log.warning("view: out of file descriptors (%s); accepting again in %g s", err.strerror,
                            ACCEPT_PAUSE_S)
                time.sleep(ACCEPT_PAUSE_S)
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve ``request`` in a thread of its own if a slot is free or can be freed; else answer 503 and close."""
        if not self._slots.acquire(blocking=False):
            self._close_oldest_waiting()
            if not self._slots.acquire(timeout=EVICTION_WAIT_S):
                log.warning("view: all %d connections are being answered; refused one from %s",
                            self.max_connections, client_address[0])
                _refuse(request)
                self.shutdown_request(request)
                return
        with self._waiting_lock:
            self._waiting[request] = None
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.shutdown_request(request)
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one connection in its thread; its slot is free again afterwards."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def request_arrived(self, request: socket.socket) -> None:
        """``request``'s headers are being read: from now on its connection is busy, not idle."""
        with self._waiting_lock:
            self._waiting.pop(request, None)

    def shutdown_request(self, request: Any) -> None:
        """Close a connection (it is no longer waiting for its request)."""
        self.request_arrived(request)
        super().shutdown_request(request)

    def _close_oldest_waiting(self) -> None:
        """Hang up on the connection that has waited longest without a request; its thread then ends at once."""
        with self._waiting_lock:
            if not self._waiting:
                return
            oldest = next(iter(self._waiting))
            del self._waiting[oldest]
            with contextlib.suppress(OSError):  # the client has gone already
                oldest.shutdown(socket.SHUT_RDWR)
        log.debug("view: closed an idle connection to make room for a new one")


def _names_of_this_machine(listening: str) -> set[str]:
    """The loopback names, and the address the server listens on unless that is a wildcard (0.0.0.0, ::)."""
    names = set(LOOPBACK_NAMES)
    try:
        if not ipaddress.ip_address(listening).is_unspecified:
            names.add(f"[{listening}]" if ":" in listening else listening)
    except ValueError:  # an address with a scope (fe80::1%eth0): loopback names only
        pass
    return names


def _refuse(request: socket.socket) -> None:
    """Tell a client the server is busy, without waiting for it to read."""
    body = b"the live view is busy answering other requests; try again\n"
    head = (f"HTTP/1.0 {HTTPStatus.SERVICE_UNAVAILABLE.value} Service Unavailable\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    with contextlib.suppress(OSError):  # a client that cannot take it is closed all the same
        request.setblocking(False)
        request.send(head.encode() + body)
