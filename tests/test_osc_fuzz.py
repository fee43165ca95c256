"""Fuzzing the daemon's OSC input: generated datagrams (well-formed, broken, and plain noise) through the datagram
check as a pure function, and through a real server over UDP on 127.0.0.1, which must answer each and keep serving."""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc.osc_message import OscMessage
from pythonosc.osc_packet import OscPacket
from test_osc_server import embedded_session, serving

from synthmatch.daemon.osc_commands import PING, PONG
from synthmatch.daemon.osc_packets import BUNDLE_PREFIX, PacketError, read_packet
from synthmatch.daemon.osc_server import ERROR_ADDRESS, OscServer

#: Inputs of the pure-function fuzz: the issue asks for at least 20,000.
PURE_INPUTS = 20_000
#: Datagrams sent to the real server, with a fresh client's ping after every PING_EVERY of them.
SENT_INPUTS = 3_000
PING_EVERY = 1_000
#: Type tags the daemon reads, and all tags generated: those and ones it refuses (OSC extensions and nonsense).
READ_TAGS = "ihfdsbTFN"
TAGS = READ_TAGS + "crmtSI[]x"
ADDRESSES = [f"/synthmatch/{name}" for name in ("ping", "status", "match/start", "match/stop", "target/load",
                                                "target/record", "patch/save", "patch/undo", "*", "nonsense")]
IMMEDIATELY = bytes(7) + b"\x01"


def osc_string(text: str) -> bytes:
    """``text`` as an OSC string: UTF-8, null-terminated, padded with nulls to 4 bytes."""
    raw = text.encode("utf-8") + b"\x00"
    return raw + bytes(-len(raw) % 4)


@st.composite
def argument(draw: st.DrawFn, tag: str) -> bytes:
    """Bytes for one argument of type ``tag``: the right length mostly, noise of a random length one time in eight."""
    if draw(st.integers(0, 7)) == 0:
        return draw(st.binary(max_size=9))
    if tag in "sS":
        return osc_string(draw(st.text(max_size=12)))
    if tag == "b":
        blob = draw(st.binary(max_size=12))
        return struct.pack(">i", len(blob)) + blob + bytes(-len(blob) % 4)
    return draw(st.binary(min_size=0 if tag in "TFNI[]" else 8 if tag in "hdt" else 4, max_size=8 if tag in "hdt"
                          else 0 if tag in "TFNI[]" else 4))


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """An OSC message to a command address (or another), with arguments of generated type tags (mostly ones the
    daemon reads)."""
    address = draw(st.sampled_from(ADDRESSES) | st.text(max_size=10).map(lambda text: "/" + text))
    tags = draw(st.text(alphabet=READ_TAGS, max_size=5) | st.text(alphabet=TAGS, max_size=5))
    if not tags and draw(st.booleans()):
        return osc_string(address)  # no type tag string at all: no arguments
    return osc_string(address) + osc_string("," + tags) + b"".join(draw(argument(tag)) for tag in tags)


@st.composite
def bundle_of(draw: st.DrawFn, elements: st.SearchStrategy[bytes]) -> bytes:
    """An OSC bundle of generated elements, each with its true size mostly, a wrong one one time in eight."""
    packet = BUNDLE_PREFIX + draw(st.just(IMMEDIATELY) | st.binary(min_size=8, max_size=8))
    for element in draw(st.lists(elements, max_size=4)):
        wrong = draw(st.integers(0, 7)) == 0
        size = draw(st.integers(-16, len(element) + 8)) if wrong else len(element)
        packet += struct.pack(">i", size) + element
    return packet


#: Values written over a 4-byte word by a mutation: sizes that are negative, zero, odd, too large, or extreme.
WORDS = [-12, -8, -4, -1, 0, 1, 3, 4, 8, 16, 255, 65_535, 2**31 - 1, -(2**31)]
#: Bytes written by a mutation: nulls, the characters that start messages, bundles and type tags, tags, high bytes.
BYTES = b"\x00\x01/#,ihfdsbTFNcrmt[]\x7f\x80\xff"


def mutate(packet: bytes, rng: random.Random) -> bytes:
    """``packet`` with one to three random edits: a type tag changed (often: most tags take 4 bytes, so the layout
    stays valid), a byte set, a word overwritten, the end cut, noise appended, or four bytes inserted or removed."""
    data = bytearray(packet)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        index = rng.randrange(len(data) + 1)
        word = index - index % 4
        how = rng.randrange(8)
        if how < 2:
            retag(data, rng)
        elif how == 2 and index < len(data):
            data[index] = rng.choice(BYTES) if rng.random() < 0.7 else rng.randrange(256)
        elif how == 3 and word + 4 <= len(data):
            data[word:word + 4] = struct.pack(">i", rng.choice(WORDS))
        elif how == 4:
            del data[index:]
        elif how == 5:
            data += rng.randbytes(rng.randint(1, 8))
        elif how == 6:
            data[word:word] = rng.randbytes(4)
        else:
            del data[word:word + 4]
    return bytes(data)


def retag(data: bytearray, rng: random.Random) -> None:
    """Change one type tag of one message in ``data`` (in place) to a random one of TAGS, if it has any."""
    commas = [index for index, byte in enumerate(data) if byte == ord(",")]
    if not commas:
        return
    start = end = rng.choice(commas) + 1
    while end < len(data) and chr(data[end]) in TAGS:
        end += 1
    if end > start:
        data[rng.randrange(start, end)] = ord(rng.choice(TAGS))


PACKETS = st.recursive(messages(), bundle_of, max_leaves=6) | st.binary(max_size=40)
#: Each generated packet comes whole and in VARIANTS - 1 mutated forms: hypothesis's generation is the slow part.
VARIANTS = 50


def variants(packet: bytes, rng: random.Random) -> list[bytes]:
    """``packet`` itself and VARIANTS - 1 mutations of it."""
    return [packet, *(mutate(packet, rng) for _ in range(VARIANTS - 1))]


def as_read(messages: list[OscMessage]) -> list[str]:
    """Messages as comparable text (address and arguments), sorted: python-osc orders a bundle by its time tags."""
    return sorted(f"{message.address} {message.params!r}" for message in messages)


def read_tags(message: OscMessage) -> str:
    """The type tags of a message as sent, without the comma ("" when it has none)."""
    tags = message.dgram[len(osc_string(message.address)):].split(b"\x00", 1)[0]
    return tags.decode()[1:]


def read_as_python_osc_would(data: bytes) -> bool:
    """Whether read_packet takes ``data``; asserts that it fails only with a one-line PacketError, passes only tags
    the daemon reads, and reads what it passes as python-osc does (python-osc never sees a refused datagram)."""
    try:
        messages = read_packet(data)
    except PacketError as err:
        assert str(err) and "\n" not in str(err) and (err.address == "" or err.address.startswith("/")), data
        return False
    assert as_read(messages) == as_read([timed.message for timed in OscPacket(data).messages]), data
    assert all(set(read_tags(message)) <= set(READ_TAGS) for message in messages), data
    assert all(len(message.params) == len(read_tags(message)) for message in messages), data  # none dropped
    return True


FUZZ_SETTINGS = settings(deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_every_datagram_is_refused_or_read_as_python_osc_reads_it() -> None:
    """PURE_INPUTS generated datagrams straight through read_packet; both outcomes must be common."""
    taken: list[bool] = []

    @settings(FUZZ_SETTINGS, max_examples=PURE_INPUTS // VARIANTS)
    @given(PACKETS, st.randoms(use_true_random=False))
    def check(packet: bytes, rng: random.Random) -> None:
        taken.extend(read_as_python_osc_would(data) for data in variants(packet, rng))

    check()
    assert len(taken) >= PURE_INPUTS
    assert 0.02 < sum(taken) / len(taken) < 0.98, sum(taken)


@pytest.fixture(scope="module")
def server() -> Iterator[OscServer]:
    """A real server with the daemon's commands on a session with no target, so that no datagram starts a match
    and every message is answered at once."""
    with serving(embedded_session()) as running:
        yield running


def receive(sock: socket.socket) -> OscMessage:
    """The next reply on ``sock`` (5 s at most)."""
    return OscMessage(sock.recvfrom(65_536)[0])


def ping_from_a_new_client(port: int) -> str:
    """The address of the reply to a ping from a fresh socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5.0)
        client.sendto(osc_string(PING), ("127.0.0.1", port))
        return receive(client).address


def answered(fuzzer: socket.socket, port: int, data: bytes) -> None:
    """Send ``data`` from ``fuzzer`` and assert its replies: one error naming the right address if refused, else one
    reply per message and no internal error; then nothing more (the ping sent after it is answered next)."""
    refusal: PacketError | None = None
    try:
        count = len(read_packet(data))
    except PacketError as err:
        count, refusal = 1, err
    fuzzer.sendto(data, ("127.0.0.1", port))
    replies = [receive(fuzzer) for _ in range(count)]
    fuzzer.sendto(osc_string(PING), ("127.0.0.1", port))
    assert receive(fuzzer).address == PONG, data
    if refusal is not None:
        assert (replies[0].address, replies[0].params) == (ERROR_ADDRESS, [refusal.address, str(refusal)]), data
    assert not any("internal error" in str(reply.params) for reply in replies), data


def test_a_server_fed_fuzzed_datagrams_answers_each_and_keeps_answering_ping(server: OscServer) -> None:
    """SENT_INPUTS generated datagrams over UDP, each answered as it should be; a new client's ping is answered
    after every PING_EVERY."""
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as fuzzer:
        fuzzer.settimeout(5.0)

        @settings(FUZZ_SETTINGS, max_examples=SENT_INPUTS // VARIANTS)
        @given(PACKETS, st.randoms(use_true_random=False))
        def check(packet: bytes, rng: random.Random) -> None:
            nonlocal sent
            for data in variants(packet, rng):
                answered(fuzzer, server.port, data)
                sent += 1
                if sent % PING_EVERY == 0:
                    assert ping_from_a_new_client(server.port) == PONG

        check()
    assert sent >= SENT_INPUTS
