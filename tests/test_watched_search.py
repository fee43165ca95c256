"""Registered methods watched render by render: progress after each, a stop that keeps the best so far."""

from __future__ import annotations

import numpy as np
import pytest

from synthmatch.matching import MatchProgress
from synthmatch.params import quantise_all
from synthmatch.synths import open_synth
from synthmatch.watched_search import SearchStopped, run_watched


@pytest.fixture(scope="module")
def target() -> tuple[np.ndarray, int]:
    synth = open_synth("builtin")
    patch = quantise_all(synth.definition, np.random.default_rng(5).random(len(synth.parameters)))
    return synth.render(patch[None], 52)[0], 52


@pytest.mark.parametrize("method", ["random", "cmaes"])
def test_every_render_after_the_start_is_reported_and_the_best_agrees(
    method: str, target: tuple[np.ndarray, int]
) -> None:
    synth, (audio, note) = open_synth("builtin"), target
    steps: list[MatchProgress] = []
    result = run_watched(method, synth, audio, note, 20, np.random.default_rng(0), on_step=steps.append)
    assert [step.step for step in steps] == list(range(1, result.renders))  # cmaes renders generations in batches
    assert result.distance == pytest.approx(min(min(s.distance for s in steps), result.distance_start), rel=1e-5)
    assert steps[-1].best_distance == pytest.approx(result.distance, rel=1e-5)
    assert steps[0].mel.shape[0] == 64 and np.all(np.isfinite(steps[0].mel))
    assert {step.phase for step in steps} == {"search"}


def test_a_stop_ends_the_search_at_the_next_render_keeping_its_best(target: tuple[np.ndarray, int]) -> None:
    synth, (audio, note) = open_synth("builtin"), target
    steps: list[MatchProgress] = []
    result = run_watched("cmaes", synth, audio, note, 200, np.random.default_rng(0), on_step=steps.append,
                         should_stop=lambda: len(steps) >= 7)
    assert result.steps == len(steps) == 7 and result.renders == 8 and result.method == "cmaes"
    assert result.distance == min(min(s.distance for s in steps), result.distance_start)
    best = min(steps, key=lambda s: s.distance)
    if best.distance < result.distance_start:
        np.testing.assert_array_equal(result.params, best.params)


def test_a_stop_before_the_first_render_leaves_nothing_to_keep(target: tuple[np.ndarray, int]) -> None:
    with pytest.raises(SearchStopped):
        run_watched("random", open_synth("builtin"), target[0], target[1], 8, np.random.default_rng(0),
                    should_stop=lambda: True)
