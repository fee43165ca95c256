"""Reads one UDP datagram as OSC 1.0 before python-osc parses anything, so that no datagram can hang, crash or shorten
a command: python-osc loops for good on a bundle element of negative size, recurses without bound into nested
bundles, and skips type tags it does not know, running the command with the arguments that are left.

:func:`read_packet` walks the datagram itself (bundles are flattened here, their nesting bounded) and hands
python-osc only messages it has checked whole; anything else raises :class:`PacketError`, whose text says what is
wrong and where, and whose ``address`` is the message's address when that much could be read.
"""

from __future__ import annotations

import struct

from pythonosc.osc_message import OscMessage

#: The most a UDP datagram can carry (65,507 bytes over IPv4, 65,527 over IPv6): the server reads this much.
MAX_DATAGRAM_BYTES = 65_535
#: How an OSC bundle starts (an OSC message starts with "/").
BUNDLE_PREFIX = b"#bundle\x00"
#: A bundle's header: ``#bundle\0`` and its 8-byte time tag; its elements follow.
BUNDLE_HEADER_BYTES = 16
#: Bundles nested deeper than this (a bundle in a bundle is 2) are refused; no client needs more.
MAX_BUNDLE_DEPTH = 8
#: Argument type tags the daemon reads with the bytes each takes: ints (i, h), floats (f, d), true, false, nil.
#: Strings (s) and blobs (b) are sized by their content; every other tag is refused.
FIXED_ARGUMENT_BYTES = {"i": 4, "h": 8, "f": 4, "d": 8, "T": 0, "F": 0, "N": 0}
#: What the refused tags of OSC 1.0 and its common extensions are, for error messages.
REFUSED_TAG_NAMES = {"c": "char", "S": "symbol", "r": "RGBA colour", "m": "MIDI message", "t": "time tag",
                     "I": "infinitum", "[": "array start", "]": "array end"}


class PacketError(ValueError):
    """A datagram the daemon cannot read; ``address`` is the address of the message at fault ("" when unknown)."""

    def __init__(self, address: str, message: str) -> None:
        super().__init__(message)
        self.address = address


def read_packet(data: bytes) -> list[OscMessage]:
    """The messages of one datagram, in the order they come (bundles flattened; their time tags are not waited for).

    Raises PacketError for a datagram that is not well-formed OSC or holds a type tag the daemon does not read.
    """
    messages: list[OscMessage] = []
    if data.startswith(BUNDLE_PREFIX):
        _read_bundle(data, 0, len(data), 1, messages)
    elif data.startswith(b"/"):
        messages.append(_read_message(data, 0, len(data)))
    else:
        raise PacketError("", f"not an OSC packet ({len(data)} bytes): it starts with neither '/' (a message) nor "
                              "'#bundle' (a bundle); send an OSC message")
    return messages


def _read_bundle(data: bytes, start: int, end: int, depth: int, messages: list[OscMessage]) -> None:
    """Append the messages of the bundle in ``data[start:end]``, nested ``depth`` deep, to ``messages``."""
    if depth > MAX_BUNDLE_DEPTH:
        raise PacketError("", f"OSC bundles nested more than {MAX_BUNDLE_DEPTH} deep; send them less deeply nested")
    if end - start < BUNDLE_HEADER_BYTES:
        raise PacketError("", f"an OSC bundle of {end - start} bytes, shorter than its {BUNDLE_HEADER_BYTES}-byte "
                              "header (#bundle and a time tag)")
    index, element = start + BUNDLE_HEADER_BYTES, 0
    while index < end:
        element += 1
        if end - index < 4:
            raise PacketError("", f"OSC bundle element {element} at byte {index}: {end - index} byte(s) left, too "
                                  "few for its 4-byte size")
        (size,) = struct.unpack_from(">i", data, index)
        index += 4
        if not 0 < size <= end - index:
            raise PacketError("", f"OSC bundle element {element} at byte {index - 4} claims {size} bytes; an "
                                  f"element's size must be above 0 and fit in the {end - index} bytes left")
        if data.startswith(BUNDLE_PREFIX, index):
            _read_bundle(data, index, index + size, depth + 1, messages)
        elif data.startswith(b"/", index):
            messages.append(_read_message(data, index, index + size))
        else:
            raise PacketError("", f"OSC bundle element {element} at byte {index - 4} is neither a message ('/') "
                                  "nor a bundle ('#bundle')")
        index += size


def _read_message(data: bytes, start: int, end: int) -> OscMessage:
    """The message in ``data[start:end]``, checked whole: address, type tags, and every argument's bytes."""
    address, index = _read_string(data, start, end, "", "the address")
    if index == end:
        return OscMessage(data[start:end])  # no type tag string: no arguments (OSC 1.0 allows it)
    tags, index = _read_string(data, index, end, address, "the type tag string")
    if not tags.startswith(","):
        raise PacketError(address, f"the type tag string must start with ',', got {tags!r}")
    for position, tag in enumerate(tags[1:], start=1):
        index = _skip_argument(data, index, end, address, position, tag)
    if index < end:
        raise PacketError(address, f"{end - index} byte(s) after the last argument: the type tags {tags!r} name "
                                   "fewer arguments than were sent")
    return OscMessage(data[start:end])


def _skip_argument(data: bytes, index: int, end: int, address: str, position: int, tag: str) -> int:
    """Where argument ``position`` (type ``tag``), starting at ``index``, ends; PacketError if it does not fit."""
    what = f"argument {position} ('{tag}')"
    if tag == "s":
        return _read_string(data, index, end, address, what)[1]
    if tag == "b":
        if end - index < 4:
            raise PacketError(address, f"{what} runs past the end of the message: no room for the blob's size")
        (size,) = struct.unpack_from(">i", data, index)
        padded = size + -size % 4
        if size < 0 or padded > end - index - 4:  # -1..-3 would pad to 0: check the size itself
            raise PacketError(address, f"{what} claims a blob of {size} bytes; it must be 0 or more and fit in the "
                                       f"{end - index - 4} bytes left")
        return index + 4 + padded
    if tag not in FIXED_ARGUMENT_BYTES:
        name = REFUSED_TAG_NAMES.get(tag, "not an OSC type")
        raise PacketError(address, f"{what}: the daemon does not read type tag {tag!r} ({name}); send ints as 'i', "
                                   "floats as 'f', strings as 's'")
    size = FIXED_ARGUMENT_BYTES[tag]
    if size > end - index:
        raise PacketError(address, f"{what} needs {size} bytes, only {end - index} left in the message")
    return index + size


def _read_string(data: bytes, index: int, end: int, address: str, what: str) -> tuple[str, int]:
    """The OSC string at ``index`` (UTF-8, null-terminated, padded to 4 bytes) and where it ends; ``what`` names it
    in errors."""
    null = data.find(b"\x00", index, end)
    if null < 0:
        raise PacketError(address, f"{what} has no terminating null byte within the message")
    text = data[index:null]
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PacketError(address, f"{what} is not UTF-8 text: {err.reason} at byte {index + err.start}") from None
    padded_end = null + 1 + -(null + 1 - index) % 4
    if padded_end > end:
        raise PacketError(address, f"{what} is not padded with nulls to a multiple of 4 bytes within the message")
    return decoded, padded_end
