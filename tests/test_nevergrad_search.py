"""The nevergrad baselines: NGOpt's MetaModel runs under numpy 2, a failing optimizer never takes a match down,
a stopped search leaves no optimizer thread behind. (Budgets, seeding and honesty: tests/test_match_methods.py.)"""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import numpy as np
import pytest

from synthmatch.match_rules import BestSoFar
from synthmatch.matching import MatchProgress
from synthmatch.nevergrad_search import nevergrad_module, ngopt_search
from synthmatch.synths import Synth, open_synth
from synthmatch.watched_search import run_watched


@pytest.fixture(scope="module")
def synth() -> Synth:
    return open_synth("builtin")


def test_ngopts_metamodel_proposes_points_under_numpy_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 1024 evaluations of 20 parameters NGOpt picks a MetaModel, whose float() of an array numpy 2 refuses."""
    ng = nevergrad_module()
    from nevergrad.optimization import optimizerlib

    learned: list[Any] = []
    original = optimizerlib.learn_on_k_best

    def counted(*args: Any, **kwargs: Any) -> Any:
        learned.append(original(*args, **kwargs))
        return learned[-1]

    monkeypatch.setattr(optimizerlib, "learn_on_k_best", counted)
    parametrization = ng.p.Array(init=np.full(20, 0.5), lower=0.0, upper=1.0)
    parametrization.random_state = np.random.RandomState(0)
    optimizer = ng.optimizers.NGOpt(parametrization=parametrization, budget=1024, num_workers=1)
    assert "MetaModel" in type(optimizer.optim).__name__
    for _ in range(450):  # the model is first fitted after 231 points (the quadratic's 20 + 190 + 20 + 1 terms)
        candidate = optimizer.ask()
        optimizer.tell(candidate, float(np.sum((candidate.value - 0.3) ** 2)))
    assert learned and all(np.all(np.isfinite(point)) for point in learned)


class FailingOptimizer:
    """Stands in for a nevergrad optimizer that breaks on its third ask (an upstream bug)."""

    def __init__(self, parametrization: Any, budget: int, num_workers: int) -> None:
        self.parametrization, self.asked = parametrization, 0

    def ask(self) -> Any:
        self.asked += 1
        if self.asked == 3:
            raise TypeError("only 0-dimensional arrays can be converted to Python scalars")
        return self.parametrization.spawn_child(new_value=np.full(self.parametrization.dimension, 0.1 * self.asked))

    def tell(self, candidate: Any, loss: float) -> None:
        """Nothing to learn."""


def test_a_failing_optimizer_ends_the_search_with_its_best_and_a_warning(
    synth: Synth, held_out_target: tuple[np.ndarray, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    ng = nevergrad_module()
    monkeypatch.setitem(ng.optimizers.registry, "NGOpt", FailingOptimizer)
    with pytest.warns(RuntimeWarning, match=r"nevergrad NGOpt failed after 2 of 50 renders \(TypeError: only 0-dim"):
        result = ngopt_search(synth, held_out_target[0], held_out_target[1], 50, np.random.default_rng(0))
    assert result.renders == 3 and len(result.history) == 2  # the start and the two candidates it gave
    assert result.distance == min(result.distance_start, *result.history)


@pytest.mark.parametrize("method", ["ngopt", "oneplusone"])
def test_a_stopped_search_leaves_no_optimizer_thread_behind(
    method: str, synth: Synth, held_out_target: tuple[np.ndarray, int]
) -> None:
    """NGOpt at small budgets runs COBYLA, which nevergrad drives from a thread of its own."""
    before = threading.active_count()
    steps: list[MatchProgress] = []
    audio, note = held_out_target
    result = run_watched(method, synth, audio, note, 200, np.random.default_rng(0), on_step=steps.append,
                         should_stop=lambda: len(steps) >= 5)
    assert result.steps == 5 and result.renders == 6 and result.method == method
    best = BestSoFar.start(steps[0].params, steps[0].distance)
    for step in steps[1:]:
        best, _ = best.update(step.params, step.distance)
    assert result.distance == min(float(best.distance), result.distance_start)
    for _ in range(50):  # the thread ends at once, not when nevergrad's optimizer is garbage-collected
        if threading.active_count() <= before:
            break
        threading.Event().wait(0.1)
    assert threading.active_count() <= before


def test_a_process_whose_ngopt_search_was_stopped_exits() -> None:
    """The interpreter waits at exit for every thread: COBYLA's, left waiting for a distance, must be stopped."""
    program = (
        "import numpy as np\n"
        "from synthmatch.synths import open_synth\n"
        "from synthmatch.watched_search import run_watched\n"
        "synth = open_synth('builtin')\n"
        "target = synth.render(np.random.default_rng(3).random((1, len(synth.parameters))), 60)[0]\n"
        "asked = []\n"  # a stop at the first candidate: COBYLA's thread is waiting for its first distance
        "result = run_watched('ngopt', synth, target, 60, 200, np.random.default_rng(0),\n"
        "                     should_stop=lambda: asked.append(1) or len(asked) > 1)\n"
        "print(result.renders)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"  # the start only
