"""The polish: small seeded random steps of a few knobs around the best patch, with a step size that follows the 1/5
success rule (the match loop's last quarter of steps, in tests/test_matching.py, and agent+refine's last three
quarters of renders)."""

from __future__ import annotations

import numpy as np
import pytest

from synthmatch.matching import start_patch
from synthmatch.params import quantise_all
from synthmatch.polish import POLISH_GROWTH, POLISH_MIN_SIGMA, POLISH_MOVED, POLISH_SIGMA, Polish, polish_steps
from synthmatch.search_methods import SearchLog, refine_with_polish
from synthmatch.synths import Synth


@pytest.fixture(scope="module")
def target(synth: Synth) -> np.ndarray:
    patch = quantise_all(synth.definition, np.random.default_rng(15).random(len(synth.parameters)))
    return synth.render(patch[None], 60)[0]


def test_the_polish_plays_the_last_quarter_of_the_steps() -> None:
    assert [polish_steps(n) for n in (0, 3, 4, 12, 32, 256)] == [0, 0, 1, 3, 8, 64]


def test_the_step_size_grows_after_a_success_and_holds_at_one_success_in_five(synth: Synth) -> None:
    search = Polish(synth.definition)
    search.adapt(True)
    assert search.sigma == pytest.approx(POLISH_SIGMA * POLISH_GROWTH)
    for _ in range(4):
        search.adapt(False)
    assert search.sigma == pytest.approx(POLISH_SIGMA)
    search.adapt(False)
    assert search.sigma < POLISH_SIGMA
    for _ in range(100):  # a long run of misses: the step stops shrinking where proposals still move a 7-bit knob
        search.adapt(False)
    assert search.sigma == POLISH_MIN_SIGMA


def test_a_proposal_is_a_small_quantised_step_that_stays_in_range(synth: Synth) -> None:
    definition = synth.definition
    half = len(definition.parameters) // 2
    best = quantise_all(definition, np.r_[np.zeros(half), np.ones(len(definition.parameters) - half)])  # range ends
    rng = np.random.default_rng(0)
    proposals = np.array([Polish(definition).propose(best, rng) for _ in range(200)])
    assert proposals.min() >= 0.0 and proposals.max() <= 1.0
    np.testing.assert_array_equal(quantise_all(definition, proposals), proposals)  # what the synth receives
    moved = np.abs(proposals - best)
    assert moved.max() < 6 * POLISH_SIGMA / np.sqrt(POLISH_MOVED) + 0.05  # small (a switch may jump a position)
    assert np.mean(np.any(moved > 0, axis=1)) > 0.9  # and nearly every proposal is a new patch


def test_a_proposal_moves_a_few_knobs_not_all(synth: Synth) -> None:
    definition = synth.definition
    best = quantise_all(definition, np.full(len(definition.parameters), 0.5))
    rng = np.random.default_rng(1)
    moved = np.array([Polish(definition).propose(best, rng) != best for _ in range(400)])
    assert moved.any(axis=1).mean() > 0.9
    share = moved.mean()  # a quantised knob may round back: a little under POLISH_MOVED plus the one always moved
    assert 0.5 * POLISH_MOVED < share < 1.5 * POLISH_MOVED, share
    assert moved.any(axis=0).all()  # every knob gets its turn


def test_a_search_is_polished_one_render_at_a_time_around_its_best(synth: Synth, target: np.ndarray) -> None:
    start = start_patch(synth, None)
    log = SearchLog.start(synth, target, 60, start)
    refine_with_polish(log, 10, np.random.default_rng(2))
    assert log.renders == 11 and len(log.history) == 10
    assert float(log.best.distance) == min(log.distance_start, *log.history)
    best, closest, search, rng = start, log.distance_start, Polish(synth.definition), np.random.default_rng(2)
    for distance in log.history:  # replayed: each render is the polish's proposal around the best so far
        proposal, improved = search.propose(best, rng), distance < closest
        search.adapt(improved)
        best, closest = (proposal, distance) if improved else (best, closest)
    np.testing.assert_array_equal(log.best.params, best)
