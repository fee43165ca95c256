"""The two rules every match shares: the step rule and the best-so-far, one match or a batch of them."""

from __future__ import annotations

import numpy as np
import pytest

from synthmatch.definitions import find_definition
from synthmatch.match_rules import BestSoFar, move
from synthmatch.params import quantise_all


def test_a_step_moves_by_max_step_then_clips_and_quantises() -> None:
    definition = find_definition("builtin")
    count = len(definition.parameters)
    params = quantise_all(definition, np.full(count, 0.5))
    moved = move(definition, params, np.full(count, 0.5), 0.1)
    np.testing.assert_array_equal(moved, quantise_all(definition, params + 0.05))
    pushed = move(definition, params, np.full(count, 30.0), 0.1)  # an action beyond +-1 counts as +-1
    np.testing.assert_array_equal(pushed, move(definition, params, np.ones(count), 0.1))
    edge = move(definition, np.ones(count), np.ones(count), 0.1)
    np.testing.assert_array_equal(edge, quantise_all(definition, np.ones(count)))  # never outside [0, 1]


def test_a_step_broadcasts_over_a_batch_of_variations() -> None:
    definition = find_definition("builtin")
    count = len(definition.parameters)
    params = quantise_all(definition, np.random.default_rng(0).random((3, count)))
    actions = np.random.default_rng(1).uniform(-1.0, 1.0, (3, 4, count))
    batched = move(definition, params[:, None], actions, 0.1)
    assert batched.shape == (3, 4, count)
    np.testing.assert_array_equal(batched[2, 1], move(definition, params[2], actions[2, 1], 0.1))


def test_one_match_keeps_only_a_strictly_closer_patch() -> None:
    start = np.zeros(3)
    best = BestSoFar.start(start, 0.5)
    best, improved = best.update(np.full(3, 0.2), 0.4)
    assert bool(improved) and float(best.distance) == 0.4
    np.testing.assert_array_equal(best.params, np.full(3, 0.2))
    tied, improved = best.update(np.full(3, 0.9), 0.4)  # a tie keeps the earlier patch
    assert not bool(improved)
    np.testing.assert_array_equal(tied.params, np.full(3, 0.2))
    worse, improved = tied.update(np.ones(3), 0.7)
    assert not bool(improved) and float(worse.distance) == 0.4
    np.testing.assert_array_equal(start, np.zeros(3))  # the start patch given was copied, not kept


def test_a_batch_keeps_each_matchs_own_best_and_leaves_the_old_state_alone() -> None:
    best = BestSoFar.start(np.zeros((3, 2)), [0.5, 0.5, 0.5])
    after, improved = best.update(np.ones((3, 2)), np.array([0.4, 0.6, 0.5]))
    np.testing.assert_array_equal(improved, [True, False, False])
    np.testing.assert_array_equal(after.params, [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(after.distance, [0.4, 0.5, 0.5])
    np.testing.assert_array_equal(best.params, np.zeros((3, 2)))  # immutable: a copy of a match cannot change
    with pytest.raises(AttributeError):
        best.distance = np.zeros(3)  # type: ignore[misc]
