"""Subscribers: the places every reply and progress message also goes (``/synthmatch/subscribe``, ``--notify``).

A controller that listens on a fixed port (a Pd patch, TouchOSC, ``oscdump``) never hears replies sent to the
port it sent from, so it subscribes its listening port. Each subscriber gets a UDP socket of its own, connected
and non-blocking: a send never waits (a full buffer is a failed send), and a subscriber that has gone away shows
as a refused send (Linux reports the ICMP "port unreachable" on the connected socket's next send, not on the
daemon's listening socket). A subscriber added over OSC is dropped after :data:`MAX_FAILURES` failed sends with
fewer than :data:`RECOVERY_SENDS` good ones between them, and the drop is logged; one the operator configured
(``--notify``) is kept and its failures are logged once a run.

Where a subscriber may be: while the daemon listens only on this machine, only this machine (over OSC) can
subscribe, and it may subscribe only this machine, so nothing the daemon says leaves the machine unless the
operator asked (``--notify``). A daemon listening beyond loopback (``--osc-host``) was opened to the network on
purpose; there a subscriber may be any address, at most :data:`MAX_SUBSCRIBERS` of them, so one datagram (whose
sender UDP cannot prove) makes at most that many copies of each message. Over OSC, hosts are numeric addresses or
``localhost``: resolving a name could stall the network thread. The daemon's own port is refused (it would
answer its own replies).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Most subscribers at once, OSC and ``--notify`` together; more are refused with an error reply.
MAX_SUBSCRIBERS = 8
#: Failed sends after which a subscriber added over OSC is dropped.
MAX_FAILURES = 3
#: Good sends in a row after which a subscriber's failures are forgotten.
RECOVERY_SENDS = 8

Address = tuple[str, int]
"""A subscriber: numeric host and UDP port."""


class SubscriptionError(ValueError):
    """A subscribe or unsubscribe that cannot be done; the message says why and what to do."""


@dataclass
class _Subscriber:
    """One subscriber's socket and its record of failed sends."""

    address: Address
    sock: socket.socket
    kept: bool
    """Configured by the operator (``--notify``): never dropped."""
    failures: int = 0
    good_since_failure: int = 0

    @property
    def label(self) -> str:
        """``host:port`` (``[host]:port`` for IPv6), as logs and errors name it."""
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Subscribers:
    """The daemon's subscribers, thread-safe: the OSC thread and the match worker both send through it."""

    def __init__(self, listening_host: str, own_port: int, limit: int = MAX_SUBSCRIBERS) -> None:
        """Subscribers of a daemon that listens on ``listening_host:own_port``; at most ``limit`` of them."""
        self.listening_host = listening_host
        self.beyond_loopback = not is_loopback(listening_host)
        self.own_port = own_port
        self.limit = limit
        self._lock = threading.Lock()
        self._subscribers: dict[Address, _Subscriber] = {}

    def subscribe(self, host: str, port: int, configured: bool = False) -> Address:
        """Add ``host:port`` (again: its failures are forgotten); returns it as stored (numeric), or raises
        SubscriptionError saying why not.

        ``configured`` (``--notify``): any host, a name is resolved here, and it is never dropped.
        """
        address = (self._numeric(host, configured), port)
        if not 1 <= port <= 65535:
            raise SubscriptionError(f"port {port} must be 1..65535")
        if not configured and not self.beyond_loopback and not is_loopback(address[0]):
            raise SubscriptionError(
                f"{host} is not this machine: the daemon listens only on {self.listening_host}, so it sends only to "
                "this machine; to send elsewhere start it with --notify HOST:PORT (or listen beyond loopback with "
                "--osc-host, see docs/osc.md)")
        if port == self.own_port and (is_loopback(address[0]) or address[0] == self.listening_host):
            raise SubscriptionError(f"{port} is the daemon's own port: it would answer its own replies; subscribe "
                                    "the port your controller listens on")
        with self._lock:
            known = self._subscribers.get(address)
            if known is not None:
                known.failures, known.good_since_failure = 0, 0
                known.kept = known.kept or configured
                return address
            if len(self._subscribers) >= self.limit:
                raise SubscriptionError(
                    f"at most {self.limit} subscribers, and there are {len(self._subscribers)} "
                    f"({', '.join(self._labels())}); unsubscribe one with /synthmatch/unsubscribe PORT [HOST]")
            subscriber = self._subscribers[address] = _Subscriber(address, _connected_socket(address), configured)
        log.info("subscribed %s%s", subscriber.label, " (--notify)" if configured else "")
        return address

    def unsubscribe(self, host: str, port: int | None) -> int:
        """Remove ``host:port``, or with ``port`` None every subscriber on ``host``; returns how many were removed.

        SubscriptionError when a port was named and it is not subscribed."""
        numeric = self._numeric(host, resolve=False)
        with self._lock:
            gone = [s for a, s in self._subscribers.items() if a[0] == numeric and port in (None, a[1])]
            if port is not None and not gone:
                raise SubscriptionError(f"{host}:{port} is not subscribed; the subscribers are: "
                                        f"{', '.join(self._labels()) or 'none'}")
            for subscriber in gone:
                self._remove_locked(subscriber)
        for subscriber in gone:
            log.info("unsubscribed %s", subscriber.label)
        return len(gone)

    def send(self, datagram: bytes, skip: Address | None = None) -> None:
        """Send ``datagram`` to every subscriber but ``skip`` (the sender, who has it already); never waits."""
        with self._lock:
            for subscriber in list(self._subscribers.values()):
                if skip is not None and subscriber.address == (skip[0], skip[1]):
                    continue
                try:
                    subscriber.sock.send(datagram)
                except OSError as err:
                    self._failed_locked(subscriber, err)
                else:
                    subscriber.good_since_failure += 1
                    if subscriber.good_since_failure >= RECOVERY_SENDS:
                        subscriber.failures = 0

    def __len__(self) -> int:
        """How many subscribers there are now."""
        with self._lock:
            return len(self._subscribers)

    def labels(self) -> list[str]:
        """Every subscriber as ``host:port``, in the order they came."""
        with self._lock:
            return self._labels()

    def close(self) -> None:
        """Close every subscriber's socket; later sends go nowhere."""
        with self._lock:
            for subscriber in list(self._subscribers.values()):
                self._remove_locked(subscriber)

    def _labels(self) -> list[str]:
        """:meth:`labels`, the lock already held."""
        return [subscriber.label for subscriber in self._subscribers.values()]

    def _failed_locked(self, subscriber: _Subscriber, err: OSError) -> None:
        """Count a failed send; drop the subscriber after too many (unless it is kept), and say so in the log."""
        subscriber.failures += 1
        subscriber.good_since_failure = 0
        if subscriber.kept:
            if subscriber.failures == 1:
                log.warning("notify %s: send failed (%s); still sending to it (--notify)", subscriber.label, err)
        elif subscriber.failures >= MAX_FAILURES:
            self._remove_locked(subscriber)
            log.warning("dropped subscriber %s after %d failed sends (last: %s); it may subscribe again",
                        subscriber.label, subscriber.failures, err)

    def _remove_locked(self, subscriber: _Subscriber) -> None:
        """Forget ``subscriber`` and close its socket; the lock is held."""
        del self._subscribers[subscriber.address]
        subscriber.sock.close()

    def _numeric(self, host: str, resolve: bool) -> str:
        """``host`` as a numeric address: ``localhost`` is 127.0.0.1; other names only when ``resolve``."""
        if host == "localhost":
            return "127.0.0.1"
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            pass
        if not resolve:
            raise SubscriptionError(f"host {host!r} must be a numeric address (127.0.0.1, ::1) or localhost; names "
                                    "are not looked up over OSC")
        try:
            return str(socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)[0][4][0])
        except OSError as err:
            raise SubscriptionError(f"cannot find host {host!r}: {err}") from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (localhost, 127.x, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _connected_socket(address: Address) -> socket.socket:
    """A non-blocking UDP socket connected to ``address``: its sends never wait and report a gone receiver."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect(address)
    except OSError as err:
        sock.close()
        raise SubscriptionError(f"cannot send to {address[0]}:{address[1]}: {err}") from None
    return sock
