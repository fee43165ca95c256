"""The one error of the live wing's transports: a MIDI port, OSC destination or audio device missing or gone."""

from __future__ import annotations


class TransportError(RuntimeError):
    """A MIDI port, OSC destination or audio device is missing or went away; the message says which and the fix."""
