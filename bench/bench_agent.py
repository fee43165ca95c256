"""The live agent's speed on one core: inference per step, the match loop's own overhead, a whole 32-step match.

Run ``.venv/bin/python -m bench.bench_agent``. Uses the shipped builtin model if there is one, else a randomly
initialised model of the default network sizes exported to a temporary folder (same graph, same cost; the
"model" column says which). Targets: inference < 2 ms median per step (observer + policy, batch 1); loop
overhead < 5 ms per step apart from rendering (features, distance, step, quantisation); a full 32-step match
of the built-in synth < 1 s.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.report import report
from synthmatch.agent import OnnxAgent, default_model_dir
from synthmatch.definitions import SynthDefinition, find_definition
from synthmatch.matching import match_with_agent
from synthmatch.params import quantise_all
from synthmatch.synths import Synth, WrappedSynth, open_synth

COLUMNS = ("measure", "model", "median_ms", "p99_ms", "target_ms", "met")
INFERENCE_CALLS = 500
MATCHES = 20
MATCH_STEPS = 32
#: Candidates a step of the searching match (as agent+search and daemon --search 8).
SEARCH_CANDIDATES = 8


class TimedSynth(WrappedSynth):
    """A synth that adds up the wall time of its renders, so the loop's own time can be told apart."""

    def __init__(self, synth: Synth) -> None:
        super().__init__(synth)
        self.render_seconds = 0.0

    def render(self, params: npt.NDArray[np.floating], note: Any = None, velocity: Any = None) -> Any:
        """The wrapped synth's render, timed."""
        began = time.perf_counter()
        audio = self.synth.render(params, note, velocity)
        self.render_seconds += time.perf_counter() - began
        return audio


def row(measure: str, model: str, times_s: list[float], target_ms: float) -> dict[str, Any]:
    """One table row: median and 99th percentile in ms of ``times_s`` against ``target_ms`` (on the median)."""
    median_ms = 1e3 * statistics.median(times_s)
    p99_ms = 1e3 * float(np.percentile(times_s, 99))
    return {"measure": measure, "model": model, "median_ms": median_ms, "p99_ms": p99_ms, "target_ms": target_ms,
            "met": median_ms < target_ms}


def bench_inference(agent: OnnxAgent, model: str) -> dict[str, Any]:
    """Observer + policy on onnxruntime for one step (batch 1), INFERENCE_CALLS calls after a warm-up."""
    rng = np.random.default_rng(0)
    frames = agent.metadata.frames
    mels = rng.uniform(-80.0, 0.0, (2, 1, agent.features.n_mels, frames)).astype(np.float32)
    params = rng.random((1, agent.parameter_count)).astype(np.float32)
    for _ in range(20):
        agent.act(mels[0], mels[1], params)
    times = []
    for _ in range(INFERENCE_CALLS):
        began = time.perf_counter()
        agent.act(mels[0], mels[1], params)
        times.append(time.perf_counter() - began)
    return row("inference per step (observer + policy)", model, times, 2.0)


def bench_matches(agent: OnnxAgent, definition: SynthDefinition, model: str) -> list[dict[str, Any]]:
    """MATCHES full matches of random builtin targets: loop overhead per step without renders, and whole matches."""
    synth = TimedSynth(open_synth(definition))
    rng = np.random.default_rng(1)
    settings = definition.note
    overhead, whole, searched = [], [], []
    for index in range(MATCHES + 1):
        note = int(rng.integers(settings.lowest_note, settings.highest_note + 1))
        patch = quantise_all(definition, rng.random(len(definition.parameters)))
        target = synth.synth.render(patch[None], note)[0]
        synth.render_seconds = 0.0
        result = match_with_agent(synth, agent, target, note, MATCH_STEPS)
        search = match_with_agent(synth.synth, agent, target, note, MATCH_STEPS, candidates=SEARCH_CANDIDATES)
        if index == 0:
            continue  # warm-up
        whole.append(result.seconds)
        searched.append(search.seconds)
        overhead.append((result.seconds - synth.render_seconds) / MATCH_STEPS)
    return [
        row("loop overhead per step, renders excluded", model, overhead, 5.0),
        row(f"whole {MATCH_STEPS}-step match, builtin", model, whole, 1000.0),
        row(f"whole {MATCH_STEPS}-step match with search ({SEARCH_CANDIDATES} candidates a step)", model, searched,
            1000.0),
    ]


def main() -> None:
    """Measure with the shipped builtin model, or an untrained one of the same shape, and write agent.json."""
    definition = find_definition("builtin")
    with tempfile.TemporaryDirectory() as scratch:
        try:
            folder, model = default_model_dir(definition), "shipped"
        except FileNotFoundError:
            from synthmatch.training.export import export_untrained_model

            folder, model = export_untrained_model(definition, Path(scratch), oneshot=False), "untrained (random)"
        agent = OnnxAgent.load(folder, definition)
        rows = [bench_inference(agent, model), *bench_matches(agent, definition, model)]
    report("agent", rows, COLUMNS, model_dir=str(folder), steps=MATCH_STEPS, matches=MATCHES)


if __name__ == "__main__":
    main()
