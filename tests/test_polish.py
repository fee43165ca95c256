"""The polish: a match's last quarter of steps (and agent+refine's last quarter of renders) are small seeded random
steps around its best patch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthmatch.agent import OnnxAgent
from synthmatch.matching import MatchProgress, match_with_agent, start_patch
from synthmatch.params import quantise_all
from synthmatch.polish import POLISH_GROWTH, POLISH_SIGMA, Polish, polish_steps
from synthmatch.search_methods import SearchLog, refine_with_polish
from synthmatch.synths import Synth

STEPS = 12  # 9 agent steps, then 3 of polish


@pytest.fixture(scope="module")
def agent(synth: Synth, tiny_model_dir: Path) -> OnnxAgent:
    return OnnxAgent.load(tiny_model_dir, synth.definition)


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


def test_a_proposal_is_a_small_quantised_step_that_stays_in_range(synth: Synth) -> None:
    definition = synth.definition
    best = quantise_all(definition, np.r_[np.zeros(10), np.ones(10)])  # every parameter at an end of its range
    rng = np.random.default_rng(0)
    proposals = np.array([Polish(definition).propose(best, rng) for _ in range(200)])
    assert proposals.min() >= 0.0 and proposals.max() <= 1.0
    np.testing.assert_array_equal(quantise_all(definition, proposals), proposals)  # what the synth receives
    moved = np.abs(proposals - best)
    assert moved.max() < 6 * POLISH_SIGMA + 0.05  # small steps (a switch may jump to its next position)
    assert np.mean(np.any(moved > 0, axis=1)) > 0.9  # and nearly every proposal is a new patch


def test_the_last_steps_polish_the_best_patch_seeded(synth: Synth, agent: OnnxAgent, target: np.ndarray) -> None:
    agent_steps = STEPS - polish_steps(STEPS)
    seen: list[MatchProgress] = []
    result = match_with_agent(synth, agent, target, 60, STEPS, on_step=seen.append, seed=3)
    alone = match_with_agent(synth, agent, target, 60, agent_steps, polish=False)
    assert result.steps == STEPS and result.renders == STEPS + 1
    assert result.history[:agent_steps] == alone.history  # the agent's steps come first, as without the polish
    best = alone.params
    for progress in seen[agent_steps:]:  # each polish step is a small step from the best patch so far
        assert 0 < np.abs(progress.params - best).max() < 0.2
        if progress.improved:
            best = progress.params
    np.testing.assert_array_equal(result.params, best)
    assert result.distance == min(result.distance_start, *result.history)
    again = match_with_agent(synth, agent, target, 60, STEPS, seed=3)
    other = match_with_agent(synth, agent, target, 60, STEPS, seed=4)
    assert again.history == result.history and other.history[agent_steps:] != result.history[agent_steps:]


def test_a_stop_during_the_polish_ends_the_match_there(synth: Synth, agent: OnnxAgent, target: np.ndarray) -> None:
    seen: list[MatchProgress] = []
    result = match_with_agent(synth, agent, target, 60, STEPS, on_step=seen.append,
                              should_stop=lambda: len(seen) >= STEPS - 1)
    assert result.steps == STEPS - 1 == len(result.history) and result.renders == STEPS


def test_a_search_is_polished_one_render_at_a_time_around_its_best(synth: Synth, target: np.ndarray) -> None:
    start = start_patch(synth, None)
    log = SearchLog.start(synth, target, 60, start)
    refine_with_polish(log, 10, np.random.default_rng(2))
    assert log.renders == 11 and len(log.history) == 10
    assert float(log.best.distance) == min(log.distance_start, *log.history)
    assert 0 < np.abs(log.best.params - start).max() < 0.3  # found near the start, not anywhere
