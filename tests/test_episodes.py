"""Episodes in flight keep each episode's best patch by the core's rule, through steps and restarts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from synthmatch.distances import log_spectra_distance
from synthmatch.training.environment import MatchTask


@pytest.fixture(scope="module")
def task() -> MatchTask:
    return MatchTask("builtin")


def test_stepping_keeps_each_episodes_best_patch_and_its_true_distance(task: MatchTask) -> None:
    batch = task.start([np.random.default_rng([3, i]) for i in range(4)])
    start = replace(batch)
    seen = [batch.distance.copy()]
    rng = np.random.default_rng(0)
    for _ in range(6):
        task.advance(batch, rng.uniform(-1.0, 1.0, batch.params.shape))
        seen.append(batch.distance.copy())
    np.testing.assert_array_equal(batch.best.distance, np.min(seen, axis=0))
    assert np.any(batch.best.distance < seen[0]) and np.any(batch.best.distance < batch.distance)  # both cases
    _, heard = task.listen(task.render(batch.best.params, batch.notes))
    np.testing.assert_allclose(log_spectra_distance(batch.target_spectra, heard), batch.best.distance, rtol=1e-6)
    np.testing.assert_array_equal(start.best.distance, seen[0])  # a copy taken before stepping stays as it was


def test_restarted_episodes_start_their_best_again(task: MatchTask) -> None:
    batch = task.start([np.random.default_rng([4, i]) for i in range(4)])
    task.advance(batch, np.random.default_rng(1).uniform(-1.0, 1.0, batch.params.shape))
    kept = batch.best
    fresh = task.start([np.random.default_rng([5, i]) for i in range(2)])
    batch.put(np.array([0, 2]), fresh)
    np.testing.assert_array_equal(batch.best.params[[0, 2]], fresh.params)
    np.testing.assert_array_equal(batch.best.distance[[0, 2]], fresh.distance)
    np.testing.assert_array_equal(batch.best.params[[1, 3]], kept.params[[1, 3]])
    np.testing.assert_array_equal(batch.best.distance[[1, 3]], kept.distance[[1, 3]])
