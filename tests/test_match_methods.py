"""The registry's methods: honest render counts, the best patch kept and truly measured, seeded, no torch needed;
and the one-shot trainer whose network the oneshot method runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from model_copies import headless_copy

from synthmatch import agent_methods
from synthmatch.agent import OnnxAgent, OnnxOneShot, load_metadata
from synthmatch.agent_methods import SEARCH_CANDIDATES, SEARCH_MAX_STEPS, load_model
from synthmatch.distances import multires_stft_distance
from synthmatch.match_methods import DEFAULT_EVAL_METHODS, METHOD_NAMES, METHODS, get_method
from synthmatch.matching import MatchResult, match_with_agent
from synthmatch.params import quantise_all
from synthmatch.polish import polish_steps
from synthmatch.search_methods import SearchLog, refine_with_cmaes
from synthmatch.synths import Synth, open_synth
from synthmatch.training.networks import NetworkConfig
from synthmatch.training.oneshot import OneShotConfig, attach_oneshot, train_oneshot

torch.set_num_threads(1)

SMALL = NetworkConfig(embed_dim=32, channels=8, hidden=32)


@pytest.fixture(scope="module")
def synth() -> Synth:
    return open_synth("builtin")


def match(
    method: str, synth: Synth, held_out_target: tuple[np.ndarray, int], budget: int, seed: int, model_dir: Path | None
) -> MatchResult:
    """One match of ``held_out_target`` (audio, note) with ``method``, seeded."""
    audio, note = held_out_target
    return get_method(method)(synth, audio, note, budget, np.random.default_rng(seed), model_dir)


@pytest.mark.parametrize("method", METHOD_NAMES)
@pytest.mark.parametrize("budget", [1, 6, 14])
def test_a_method_keeps_to_its_budget_and_reports_the_best_patch_it_rendered(
    method: str, budget: int, synth: Synth, held_out_target: tuple[np.ndarray, int], tiny_model_dir: Path
) -> None:
    result = match(method, synth, held_out_target, budget, 0, tiny_model_dir)
    expected = 1 if method == "oneshot" else budget + 1  # the one rule: the start, then the budget
    steps = expected - 1
    if method == "agent+search":  # steps of C candidates each within S renders, then one render a polish step
        searched = min(budget - polish_steps(budget), SEARCH_MAX_STEPS * SEARCH_CANDIDATES)
        candidates = max(1, min(SEARCH_CANDIDATES, searched // SEARCH_MAX_STEPS))
        steps = searched // candidates + budget - searched // candidates * candidates
    assert result.renders == expected and result.method == method and result.note == held_out_target[1]
    assert len(result.history) == result.steps == steps
    assert result.params.shape == (len(synth.parameters),)
    np.testing.assert_array_equal(result.params, quantise_all(synth.definition, result.params))
    assert result.distance == min([result.distance_start, *result.history])
    heard = multires_stft_distance(synth.render(result.params[None], held_out_target[1]), held_out_target[0][None])[0]
    assert heard == pytest.approx(result.distance, rel=1e-6)  # the reported distance is the patch's real one


@pytest.mark.parametrize("method", ["random", "cmaes", "oneplusone", "ngopt"])
def test_searching_from_the_default_patch_finds_a_closer_one(
    method: str, synth: Synth, held_out_target: tuple[np.ndarray, int], tiny_model_dir: Path
) -> None:
    # 128 renders, as equal-loudness distances go: 32 random ones miss
    result = match(method, synth, held_out_target, 128, 0, tiny_model_dir)
    agent = match("agent", synth, held_out_target, 1, 0, tiny_model_dir)
    assert result.distance_start == agent.distance_start  # every method starts from the same patch
    assert result.distance < result.distance_start


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_the_same_seed_gives_the_same_match(
    method: str, synth: Synth, held_out_target: tuple[np.ndarray, int], tiny_model_dir: Path
) -> None:
    first, second = (match(method, synth, held_out_target, 14, 5, tiny_model_dir) for _ in range(2))
    np.testing.assert_array_equal(first.params, second.params)
    assert first.history == second.history


@pytest.mark.parametrize("method", ["random", "cmaes", "oneplusone", "agent", "agent+refine"])
def test_another_seed_searches_elsewhere(method: str, synth: Synth, held_out_target: tuple[np.ndarray, int]) -> None:
    first, other = (match(method, synth, held_out_target, 14, seed, None) for seed in (5, 6))
    assert first.history != other.history


def test_agent_then_refine_is_the_agent_for_three_quarters_of_the_budget(
    synth: Synth, held_out_target: tuple[np.ndarray, int], tiny_model_dir: Path
) -> None:
    refined = match("agent+refine", synth, held_out_target, 16, 0, tiny_model_dir)
    agent = unpolished(synth, held_out_target, 12, tiny_model_dir)
    assert refined.history[:12] == agent.history and refined.distance <= agent.distance
    assert len(set(refined.history[12:])) == 4  # then four renders of its own around the agent's best


def test_agent_then_refine_gives_the_agent_one_episode_at_most_and_the_search_the_rest(
    synth: Synth, held_out_target: tuple[np.ndarray, int], tiny_model_dir: Path
) -> None:
    refined = match("agent+refine", synth, held_out_target, 64, 0, tiny_model_dir)
    agent = unpolished(synth, held_out_target, 32, tiny_model_dir)
    assert refined.history[:32] == agent.history and refined.renders == 65
    assert refined.distance <= agent.distance


@pytest.mark.parametrize("budget", [1, 3, 4, 16, 64, 128, 129, 256])
def test_agent_then_refine_spends_what_cmaes_leaves_on_the_polish(
    budget: int, synth: Synth, held_out_target: tuple[np.ndarray, int], tiny_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CMA-ES may stop early (converged); the polish then takes every render left, so the budget is still spent."""
    given: list[int] = []

    def stops_early(log: SearchLog, x0: np.ndarray, sigma0: float, renders: int, rng: np.random.Generator) -> None:
        given.append(renders)
        refine_with_cmaes(log, x0, sigma0, renders // 2, rng)

    monkeypatch.setattr(agent_methods, "refine_with_cmaes", stops_early)
    result = match("agent+refine", synth, held_out_target, budget, 0, tiny_model_dir)
    assert result.renders == budget + 1 == len(result.history) + 1
    steps = min(budget - budget // 4, 32)
    assert given == [budget - steps - 3 * budget // 4]  # none up to 128 renders: the agent and the polish


@pytest.mark.parametrize(("budget", "steps", "candidates"), [(32, 24, 1), (64, 16, 3), (256, 16, 8)])
def test_agent_with_search_takes_its_steps_first_then_polishes_its_best(
    budget: int, steps: int, candidates: int, synth: Synth, held_out_target: tuple[np.ndarray, int],
    tiny_model_dir: Path,
) -> None:
    result = match("agent+search", synth, held_out_target, budget, 0, tiny_model_dir)
    seed = int(np.random.default_rng(0).integers(2**31))  # the first draw of the method's rng seeds the search
    agent = OnnxAgent.load(tiny_model_dir, synth.definition)
    searched = match_with_agent(synth, agent, *held_out_target, steps, candidates=candidates, seed=seed, polish=False)
    assert result.history[:steps] == searched.history and result.renders == budget + 1
    polished = result.history[steps:]  # one render each, around the best patch: none of them the search's last
    assert len(polished) == budget - candidates * steps and polished[0] != searched.history[-1]


def unpolished(synth: Synth, target: tuple[np.ndarray, int], steps: int, model_dir: Path) -> MatchResult:
    """The agent's match alone, as agent+refine plays it: no polish (the refinement is its polish)."""
    return match_with_agent(synth, OnnxAgent.load(model_dir, synth.definition), *target, steps, polish=False)


class CountingSynth:
    """A synth that counts its render calls."""

    def __init__(self, synth: Synth) -> None:
        self.synth, self.definition, self.calls = synth, synth.definition, 0
        self.parameters, self.sample_rate = synth.parameters, synth.sample_rate

    def render(self, params: np.ndarray, note: int | None = None, velocity: int | None = None) -> np.ndarray:
        self.calls += 1
        return self.synth.render(params, note, velocity)


def test_cmaes_renders_each_generation_in_one_call(synth: Synth, held_out_target: tuple[np.ndarray, int]) -> None:
    counting = CountingSynth(synth)
    audio, note = held_out_target
    result = get_method("cmaes")(counting, audio, note, 12 + 12 + 5, np.random.default_rng(0), None)
    assert result.renders == 30 and counting.calls == 4  # the start, two generations of 12, then the last 5


def test_an_unknown_method_suggests_the_closest_name() -> None:
    with pytest.raises(ValueError, match=r"unknown method 'cma-es'; did you mean cmaes\?"):
        get_method("cma-es")
    known = r"known: agent, random, cmaes, oneplusone, ngopt, oneshot, agent\+refine, agent\+search$"
    with pytest.raises(ValueError, match=known):
        get_method("annealing")


def test_every_registered_method_runs_without_the_training_wing() -> None:
    """The core's methods import neither torch nor synthmatch.training (a daemon-only install runs them all)."""
    program = (
        "import sys\n"
        "from synthmatch.match_methods import METHODS\n"
        "for method in METHODS.values(): method.load()\n"
        "import synthmatch.search_methods\n"
        "synthmatch.search_methods.cma_module()\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('synthmatch.training')))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_eval_default_is_every_method_but_the_searching_agent() -> None:
    assert DEFAULT_EVAL_METHODS == ("agent", "random", "cmaes", "oneshot", "agent+refine")
    searches = [name for name, method in METHODS.items() if method.network is None]
    assert searches == ["random", "cmaes", "oneplusone", "ngopt"]


def test_a_budget_below_one_is_refused(synth: Synth, held_out_target: tuple[np.ndarray, int]) -> None:
    with pytest.raises(ValueError, match="random: budget 0 must be an int >= 1"):
        match("random", synth, held_out_target, 0, 0, Path("."))


def test_the_one_shot_trainer_learns_and_its_network_joins_a_model_folder(
    synth: Synth, held_out_target: tuple[np.ndarray, int], tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = headless_copy(tiny_model_dir, tmp_path / "model")
    with pytest.raises(FileNotFoundError, match="python -m synthmatch.training.oneshot --model"):
        match("oneshot", synth, held_out_target, 1, 0, folder)
    config = OneShotConfig(steps=20, batch_size=16, lr=3e-3, validation_samples=64, networks=SMALL)
    trained = train_oneshot(synth, config, progress=False)
    assert len(trained.losses) == 20 and trained.validation_mse < trained.validation_mse_start
    attach_oneshot(trained.regressor, folder, trained.summary(config))
    assert load_metadata(folder).raw["training"]["oneshot"]["steps"] == 20
    oneshot = load_model(OnnxOneShot, folder, synth.definition)
    mel = oneshot.observe(held_out_target[0][None])
    with torch.no_grad():
        expected = trained.regressor(torch.from_numpy(mel)).numpy()
    np.testing.assert_allclose(oneshot.predict(mel), expected, atol=1e-4)
