"""Note length: how long a target's note is held, estimated from its envelope, on notes with known gates."""

from __future__ import annotations

import numpy as np
import pytest

from synthmatch.definitions import find_definition
from synthmatch.note_length import (
    MAX_RENDER_S,
    MIN_NOTE_S,
    check_note_seconds,
    estimate_note_length,
    with_note_length,
)
from synthmatch.params import normalise_all
from synthmatch.synths import open_synth

GATES_S = (0.1, 0.2, 0.4, 0.7, 1.0, 1.5)
#: Amplitude envelopes (attack, decay, sustain, release in s) of the patches the gates are estimated on.
ENVELOPES = {
    "organ": (0.01, 0.1, 1.0, 0.05),
    "lead": (0.01, 0.2, 0.7, 0.2),
    "pad": (0.01, 0.5, 0.5, 0.8),
    "fading": (0.01, 4.0, 0.0, 0.3),  # falls 15 dB/s; a faster fade is taken for a release
}


def render_held(gate_s: float, envelope: tuple[float, float, float, float]) -> tuple[np.ndarray, int]:
    """The built-in synth's default patch with ``envelope``, its note held ``gate_s``: audio [N] and its rate."""
    definition = with_note_length(find_definition("builtin"), gate_s, 3.0)
    values = {p.name: p.default for p in definition.parameters}
    attack, decay, sustain, release = envelope
    values.update(amp_attack_s=attack, amp_decay_s=decay, amp_sustain=sustain, amp_release_s=release)
    synth = open_synth(definition)
    return synth.render(normalise_all(definition, values)[None], 60)[0], synth.sample_rate


@pytest.mark.parametrize("name", ENVELOPES)
def test_the_gate_of_a_rendered_note_is_found_within_15_percent_or_50_ms(name: str) -> None:
    for gate_s in GATES_S:
        audio, rate = render_held(gate_s, ENVELOPES[name])
        estimate = estimate_note_length(audio, rate)
        assert abs(estimate.note_seconds - gate_s) <= max(0.15 * gate_s, 0.05), (gate_s, estimate)
        release_s = ENVELOPES[name][3]
        assert estimate.note_seconds < estimate.sounding_seconds <= gate_s + release_s + 0.05


def test_a_leading_silence_does_not_count_and_silence_gives_the_shortest_note() -> None:
    audio, rate = render_held(0.4, ENVELOPES["lead"])
    late = np.concatenate([np.zeros(rate // 4, np.float32), audio])
    expected = estimate_note_length(audio, rate).note_seconds
    assert estimate_note_length(late, rate).note_seconds == pytest.approx(expected)
    assert estimate_note_length(np.zeros(rate, np.float32), rate).note_seconds == MIN_NOTE_S


def test_a_note_longer_than_the_longest_render_is_cut_to_it() -> None:
    audio, rate = render_held(1.0, ENVELOPES["organ"])
    looped = np.tile(audio[: rate], 6)  # six seconds without a release
    assert estimate_note_length(looped, rate).note_seconds == MAX_RENDER_S


def test_the_synth_plays_the_note_as_long_as_asked_and_nonsense_lengths_are_refused() -> None:
    base = find_definition("builtin")
    longer = with_note_length(base, 0.9)
    assert longer.note.note_seconds == 0.9 and longer.note.render_seconds == base.note.render_seconds
    assert longer.sha256 == base.sha256  # the same synth, played longer
    with pytest.raises(ValueError, match=r"--note-seconds 0 must be between 0.05 and 4 s"):
        check_note_seconds(0.0)
