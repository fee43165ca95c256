"""The datagram check the daemon runs before python-osc: well-formed OSC is read whole, everything else is refused
with a one-line error naming the message's address where it could be read."""

from __future__ import annotations

import struct

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder, build_msg

from synthmatch.daemon.osc_packets import (
    BUNDLE_PREFIX,
    MAX_BUNDLE_DEPTH,
    MAX_DATAGRAM_BYTES,
    REFUSED_TAG_NAMES,
    PacketError,
    read_packet,
)

IMMEDIATELY = bytes(7) + b"\x01"
PING = build_msg("/synthmatch/ping", []).dgram
START = b"/synthmatch/match/start\x00"


def bundle(*elements: bytes, sizes: list[int] | None = None) -> bytes:
    """An OSC bundle (time tag: immediately) of ``elements``, each prefixed with its size or the one in ``sizes``."""
    sizes = sizes or [len(element) for element in elements]
    return BUNDLE_PREFIX + IMMEDIATELY + b"".join(struct.pack(">i", size) + e for size, e in zip(sizes, elements,
                                                                                                   strict=True))


def nested(depth: int) -> bytes:
    """A ping inside ``depth`` bundles, one in another."""
    packet = PING
    for _ in range(depth):
        packet = bundle(packet)
    return packet


def read(data: bytes) -> list[tuple[str, list[object]]]:
    """The messages of ``data`` as (address, arguments)."""
    return [(message.address, message.params) for message in read_packet(data)]


def refusal(data: bytes) -> tuple[str, str]:
    """The address and message of the PacketError that ``data`` raises."""
    with pytest.raises(PacketError) as raised:
        read_packet(data)
    assert "\n" not in str(raised.value)
    return raised.value.address, str(raised.value)


def test_a_message_is_read_with_every_argument_type_the_daemon_reads() -> None:
    builder = OscMessageBuilder("/synthmatch/target/load")
    for value, tag in [("a.wav", "s"), (60, "i"), (2**40, "h"), (0.5, "f"), (0.25, "d"), (b"\x01\x02\x03", "b"),
                       (True, "T"), (False, "F"), (None, "N")]:
        builder.add_arg(value, tag)
    assert read(builder.build().dgram) == [
        ("/synthmatch/target/load", ["a.wav", 60, 2**40, 0.5, 0.25, b"\x01\x02\x03", True, False, None])
    ]
    assert read(b"/synthmatch/ping\x00\x00\x00\x00") == [("/synthmatch/ping", [])]  # no type tag string at all


def test_bundles_are_flattened_in_order_and_an_empty_one_holds_nothing() -> None:
    load = build_msg("/synthmatch/target/load", ["a.wav"]).dgram
    assert read(bundle(PING, bundle(load, bundle()), PING)) == [
        ("/synthmatch/ping", []), ("/synthmatch/target/load", ["a.wav"]), ("/synthmatch/ping", [])
    ]
    assert read(bundle()) == []
    assert read(nested(MAX_BUNDLE_DEPTH)) == [("/synthmatch/ping", [])]


def test_the_largest_datagram_is_read_whole() -> None:
    data = build_msg("/synthmatch/ping", ["x" * 65_479]).dgram
    assert len(data) == 65_504 <= 65_507 <= MAX_DATAGRAM_BYTES  # the largest OSC message IPv4 carries
    assert read(data) == [("/synthmatch/ping", ["x" * 65_479])]


@pytest.mark.parametrize(
    ("data", "address", "message"),
    [
        # issue 10, item 1: python-osc loops for good on these, and recurses until RecursionError on deep nesting
        (BUNDLE_PREFIX + IMMEDIATELY + struct.pack(">i", -4), "", "element 1 at byte 16 claims -4 bytes"),
        (BUNDLE_PREFIX + IMMEDIATELY + struct.pack(">i", -8), "", "claims -8 bytes"),
        (BUNDLE_PREFIX + IMMEDIATELY + struct.pack(">i", -12), "", "claims -12 bytes"),
        (nested(330), "", f"nested more than {MAX_BUNDLE_DEPTH} deep"),
        (nested(MAX_BUNDLE_DEPTH + 1), "", f"nested more than {MAX_BUNDLE_DEPTH} deep"),
        # issue 10, item 5: python-osc skips the tag and runs the command with the arguments left
        (START + b",c\x00\x00" + struct.pack(">i", 99), "/synthmatch/match/start",
         "argument 1 ('c'): the daemon does not read type tag 'c' (char)"),
        (START + b",ci\x00" + struct.pack(">ii", 5, 4000), "/synthmatch/match/start", "type tag 'c' (char)"),
        # bundles
        (bundle(PING, sizes=[0]), "", "claims 0 bytes; an element's size must be above 0"),
        (bundle(PING, sizes=[len(PING) + 4]), "", f"claims {len(PING) + 4} bytes"),
        (bundle(PING) + b"\x00\x00", "", "element 2 at byte 44: 2 byte(s) left, too few for its 4-byte size"),
        (bundle(b"ping"), "", "element 1 at byte 16 is neither a message ('/') nor a bundle"),
        (BUNDLE_PREFIX + b"\x00\x00", "", "an OSC bundle of 10 bytes, shorter than its 16-byte header"),
        (bundle(bundle(PING, sizes=[-4])), "", "claims -4 bytes"),
        # messages
        (b"/synthmatch/ping\x00\x00\x00\x00ii\x00\x00", "/synthmatch/ping",
         "the type tag string must start with ',', got 'ii'"),
        (b"/synthmatch/ping", "", "the address has no terminating null byte"),
        (b"/synthmatch/ping\x00", "", "the address is not padded with nulls to a multiple of 4 bytes"),
        (b"/synthmatch/p\xffng\x00\x00\x00\x00", "", "the address is not UTF-8 text: invalid start byte at byte 13"),
        (build_msg("/synthmatch/ping", [1]).dgram[:-2], "/synthmatch/ping", "argument 1 ('i') needs 4 bytes, only 2"),
        (build_msg("/synthmatch/ping", [1]).dgram + bytes(4), "/synthmatch/ping",
         "4 byte(s) after the last argument: the type tags ',i' name fewer arguments than were sent"),
        (START + b",s\x00\x00a\xe9\x00\x00", "/synthmatch/match/start", "argument 1 ('s') is not UTF-8 text"),
        (START + b",b\x00\x00" + struct.pack(">i", -4), "/synthmatch/match/start",
         "argument 1 ('b') claims a blob of -4 bytes"),
        (START + b",b\x00\x00" + struct.pack(">i", -1), "/synthmatch/match/start",
         "argument 1 ('b') claims a blob of -1 bytes"),
        (START + b",b\x00\x00" + struct.pack(">i", 5) + b"12345", "/synthmatch/match/start",
         "claims a blob of 5 bytes; it must be 0 or more and fit in the 5 bytes left"),
        # not OSC at all
        (b"", "", "not an OSC packet (0 bytes)"),
        (b"hello", "", "not an OSC packet (5 bytes): it starts with neither '/' (a message) nor '#bundle'"),
    ],
)
def test_malformed_datagrams_are_refused_with_what_is_wrong(data: bytes, address: str, message: str) -> None:
    assert refusal(data)[0] == address
    assert message in refusal(data)[1]


@pytest.mark.parametrize("tag", [*REFUSED_TAG_NAMES, "x", "?"])
def test_every_type_tag_the_daemon_does_not_read_is_refused_by_name(tag: str) -> None:
    data = START + f",i{tag}\x00".encode() + struct.pack(">ii", 5, 99)
    address, message = refusal(data)
    assert address == "/synthmatch/match/start"
    assert f"argument 2 ('{tag}'): the daemon does not read type tag '{tag}' " in message
    assert REFUSED_TAG_NAMES.get(tag, "not an OSC type") in message
