"""Subscriptions over real UDP on 127.0.0.1: every reply and progress message also reaches each subscriber, bad
subscriptions are refused with a clear error, a subscriber that goes away is dropped, and nothing waits."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pythonosc.osc_message import OscMessage
from test_osc_server import Client, embedded_session, serving

from synthmatch.daemon.config import DaemonConfigError, load_config
from synthmatch.daemon.osc_commands import REPLY_ONLY, OscCommands
from synthmatch.daemon.osc_server import OscServer
from synthmatch.daemon.osc_subscribers import MAX_FAILURES, MAX_SUBSCRIBERS, Subscribers, SubscriptionError

ERROR = "/synthmatch/error"


class Listener:
    """A controller's fixed listening port on 127.0.0.1 (a free one), reading what the daemon sends it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])

    def next(self, timeout: float = 5.0) -> tuple[str, list[Any]] | None:
        """The next message, or None after ``timeout`` s of silence."""
        self.sock.settimeout(timeout)
        try:
            message = OscMessage(self.sock.recv(65536))
        except TimeoutError:
            return None
        return message.address, list(message.params)

    def until(self, address: str, timeout: float = 10.0) -> list[tuple[str, list[Any]]]:
        """Every message up to and including the first to ``address`` (fails on silence)."""
        received: list[tuple[str, list[Any]]] = []
        while not received or received[-1][0] != address:
            message = self.next(timeout)
            assert message is not None, f"no {address} came; got {received}"
            received.append(message)
        return received

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[OscServer]:
    with serving(embedded_session(patch_dir=tmp_path)) as server:
        yield server


@pytest.fixture()
def client(server: OscServer) -> Iterator[Client]:
    client = Client(server.port)
    yield client
    client.close()


@pytest.fixture()
def listener() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


def test_a_subscriber_hears_every_reply_and_the_whole_match(client: Client, listener: Listener,
                                                            target_wav: Path) -> None:
    assert client.ask_one("/synthmatch/subscribe", listener.port) == (
        "/synthmatch/subscribed", ["127.0.0.1", listener.port, 1])
    assert listener.next() == ("/synthmatch/subscribed", ["127.0.0.1", listener.port, 1])
    client.ask("/synthmatch/target/load", str(target_wav), 48, until="/synthmatch/target/loaded")
    assert listener.next() == ("/synthmatch/target/loaded", [str(target_wav), 1.0])
    client.ask("/synthmatch/match/start", 3, until="/synthmatch/match/done")
    heard = listener.until("/synthmatch/match/done")
    assert [message[1][0] for message in heard[:-1]] == [1, 2, 3]  # the progress of every step
    assert {message[0] for message in heard[:-1]} == {"/synthmatch/progress"}
    assert heard[-1][1][0] == 3 and heard[-1][1][2] in ("exact", "close", "near", "far")
    client.ask("/synthmatch/match/stop")  # an error reply (no match runs) reaches the subscriber too
    error = listener.next()
    assert error is not None and error[0] == ERROR and error[1][0] == "/synthmatch/match/stop"


def test_a_reply_is_not_sent_twice_to_a_subscriber_that_asked(server: OscServer, client: Client) -> None:
    assert client.ask_one("/synthmatch/ping")[0] == "/synthmatch/pong"  # binds the client's port
    own_port = client.udp._sock.getsockname()[1]
    assert client.ask_one("/synthmatch/subscribe", own_port)[0] == "/synthmatch/subscribed"
    assert client.ask_one("/synthmatch/ping")[0] == "/synthmatch/pong"
    assert client.udp.receive(0.3) == b""  # no second copy of the pong


def test_more_than_the_limit_is_refused_and_unsubscribing_makes_room(client: Client) -> None:
    listeners = [Listener() for _ in range(MAX_SUBSCRIBERS + 1)]
    try:
        for count, listener in enumerate(listeners[:-1], start=1):
            assert client.ask_one("/synthmatch/subscribe", listener.port)[1][2] == count
        address, (failed, message) = client.ask_one("/synthmatch/subscribe", listeners[-1].port)
        assert (address, failed) == (ERROR, "/synthmatch/subscribe")
        assert f"at most {MAX_SUBSCRIBERS} subscribers" in message and "/synthmatch/unsubscribe" in message
        assert client.ask_one("/synthmatch/unsubscribe", listeners[0].port) == (
            "/synthmatch/unsubscribed", [1, MAX_SUBSCRIBERS - 1])
        assert client.ask_one("/synthmatch/subscribe", listeners[-1].port)[1][2] == MAX_SUBSCRIBERS
        assert client.ask_one("/synthmatch/unsubscribe") == ("/synthmatch/unsubscribed", [MAX_SUBSCRIBERS, 0])
    finally:
        for listener in listeners:
            listener.close()


@pytest.mark.parametrize(("args", "says"), [
    ((9100, "10.1.2.3"), "10.1.2.3 is not this machine"),
    ((9100, "example.com"), "must be a numeric address"),
    ((0,), "port 0 must be 1..65535"),
    ((70000,), "port 70000 must be 1..65535"),
    (("9100",), "argument 1 (port) must be int"),
    ((), "usage: /synthmatch/subscribe <port: int> [host: string]"),
])
def test_a_bad_subscription_is_refused_with_the_reason(client: Client, args: tuple[Any, ...], says: str) -> None:
    address, (failed, message) = client.ask_one("/synthmatch/subscribe", *args)
    assert (address, failed) == (ERROR, "/synthmatch/subscribe") and says in message
    assert client.ask_one("/synthmatch/unsubscribe") == ("/synthmatch/unsubscribed", [0, 0])  # none was added


def test_the_daemons_own_port_is_refused(server: OscServer, client: Client) -> None:
    for args in ((server.port,), (server.port, "localhost")):
        address, (_, message) = client.ask_one("/synthmatch/subscribe", *args)
        assert address == ERROR and "the daemon's own port" in message


def test_unsubscribing_what_is_not_subscribed_says_so(client: Client, listener: Listener) -> None:
    address, (_, message) = client.ask_one("/synthmatch/unsubscribe", listener.port)
    assert address == ERROR and f"127.0.0.1:{listener.port} is not subscribed" in message


def test_a_subscriber_that_goes_away_is_dropped(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    gone = Listener()
    client.ask_one("/synthmatch/subscribe", gone.port)
    gone.close()
    with caplog.at_level(logging.WARNING):
        for _ in range(2 * MAX_FAILURES + 1):  # a refused send shows on every other send to a closed port
            assert client.ask_one("/synthmatch/ping")[0] == "/synthmatch/pong"  # the daemon keeps answering
    assert f"dropped subscriber 127.0.0.1:{gone.port} after {MAX_FAILURES} failed sends" in caplog.text
    assert client.ask_one("/synthmatch/unsubscribe")[1] == [0, 0]


def test_another_daemons_replies_are_not_answered(client: Client) -> None:
    for address, args in (("/synthmatch/error", ["/x", "boom"]), ("/synthmatch/progress", [1, 0.5]),
                          ("/synthmatch/pong", ["0.1.0"])):
        client.send(address, *args)
    assert client.ask_one("/synthmatch/ping")[0] == "/synthmatch/pong"  # the first reply: nothing came before it


def test_a_subscriber_that_never_reads_does_not_hold_the_daemon_up(client: Client, server: OscServer) -> None:
    slow = Listener()  # its receive buffer fills at once and stays full
    try:
        client.ask_one("/synthmatch/subscribe", slow.port)
        datagram = bytes(60_000)
        for _ in range(2_000):  # 120 MB, far past any socket buffer
            server.subscribers.send(datagram)
        assert client.ask_one("/synthmatch/ping")[0] == "/synthmatch/pong"
    finally:
        slow.close()


def test_where_a_subscriber_may_be() -> None:
    local = Subscribers("127.0.0.1", 9000)
    with pytest.raises(SubscriptionError, match="192.0.2.7 is not this machine"):
        local.subscribe("192.0.2.7", 9100)
    assert local.subscribe("192.0.2.7", 9100, configured=True) == ("192.0.2.7", 9100)  # --notify: the operator's
    assert local.subscribe("localhost", 9101) == ("127.0.0.1", 9101)
    wide = Subscribers("0.0.0.0", 9000)  # listening beyond loopback: any host (nothing is sent here)
    assert wide.subscribe("192.0.2.7", 9100) == ("192.0.2.7", 9100)
    with pytest.raises(SubscriptionError, match="own port"):
        wide.subscribe("127.0.0.1", 9000)
    local.close()
    wide.close()


def test_a_notify_target_is_kept_when_its_sends_fail(caplog: pytest.LogCaptureFixture) -> None:
    gone = Listener()
    gone.close()
    subscribers = Subscribers("127.0.0.1", 9000)
    subscribers.subscribe("127.0.0.1", gone.port, configured=True)
    with caplog.at_level(logging.WARNING):
        for _ in range(4 * MAX_FAILURES):
            subscribers.send(b"/x\x00\x00,\x00\x00\x00")
    assert len(subscribers) == 1
    assert caplog.text.count(f"notify 127.0.0.1:{gone.port}: send failed") == 1  # logged once, not every send
    subscribers.close()


def test_notify_comes_from_the_command_line_or_the_config_file(tmp_path: Path) -> None:
    assert load_config(None, {}).notify == ()
    assert load_config(None, {"notify": ["127.0.0.1:9100", "localhost:9101"]}).notify == (
        "127.0.0.1:9100", "localhost:9101")
    path = tmp_path / "daemon.toml"
    path.write_text('notify = ["127.0.0.1:9100"]\n')
    assert load_config(path, {}).notify == ("127.0.0.1:9100",)
    for bad, says in (('notify = "127.0.0.1:9100"', "must be a list of one or more strings"),
                      ('notify = ["9100"]', "at most 8 host:port strings"),
                      (f"notify = {[f'127.0.0.1:{9100 + k}' for k in range(MAX_SUBSCRIBERS + 1)]}",
                       "at most 8 host:port strings")):
        path.write_text(bad + "\n")
        with pytest.raises(DaemonConfigError, match=f"{path}: notify = .* {says}"):
            load_config(path, {})


def test_every_address_is_in_the_docs() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "osc.md").read_text(encoding="utf-8")
    requests = OscCommands.routes(OscCommands.__new__(OscCommands))  # the addresses, without a session
    for address in [*requests, *REPLY_ONLY]:
        assert f"`{address}" in docs, f"{address} is not documented in docs/osc.md"
