"""The match loop: it is the training environment's episode step for step, keeps the best patch, and reports it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from synthmatch import distances, features, matching
from synthmatch.agent import OnnxAgent
from synthmatch.distances import log_spectra, multires_stft_distance
from synthmatch.loudness import equal_loudness
from synthmatch.match_rules import move
from synthmatch.matching import MatchProgress, match_with_agent, search_step
from synthmatch.model_choice import choose_matcher
from synthmatch.model_folder import METADATA_FILE, RELAY_FOLDER, ModelFolderError, ModelMismatch
from synthmatch.params import quantise_all
from synthmatch.polish import Polish, polish_steps
from synthmatch.synths import Synth
from synthmatch.training.environment import SynthMatchEnv

torch.set_num_threads(1)

STEPS = 8


@pytest.fixture(scope="module")
def agent(synth: Synth, tiny_model_dir: Path) -> OnnxAgent:
    return OnnxAgent.load(tiny_model_dir, synth.definition)


@pytest.fixture(scope="module")
def target(synth: Synth) -> np.ndarray:
    patch = quantise_all(synth.definition, np.random.default_rng(5).random(len(synth.parameters)))
    return synth.render(patch[None], 55)[0]


def test_the_loop_is_the_environments_episode(synth: Synth, agent: OnnxAgent, target: np.ndarray) -> None:
    start = quantise_all(synth.definition, np.random.default_rng(6).random(len(synth.parameters)))
    result = match_with_agent(synth, agent, target, 55, STEPS, start_params=start, polish=False)
    env = SynthMatchEnv(synth, max_step=agent.max_step)
    obs, info = env.reset(options={"target_audio": target, "note": 55, "start_params": start})
    assert info["distance"] == pytest.approx(result.distance_start, rel=1e-9)
    distances = []
    for _ in range(STEPS):
        action = agent.act(obs["target"][None], obs["current"][None], obs["params"][None])[0]
        obs, _, _, _, info = env.step(action)
        distances.append(info["distance"])
    np.testing.assert_allclose(result.history, distances, rtol=1e-9)
    assert len(set(result.history)) > 1  # the patch really moved


def test_the_best_patch_is_kept_and_measured_honestly(synth: Synth, agent: OnnxAgent, target: np.ndarray) -> None:
    result = match_with_agent(synth, agent, target, 55, STEPS)
    assert result.renders == STEPS + 1 and result.steps == STEPS and len(result.history) == STEPS
    assert result.distance == min(result.distance_start, *result.history) <= result.distance_start
    assert result.method == "agent" and result.note == 55 and result.seconds > 0.0
    np.testing.assert_array_equal(quantise_all(synth.definition, result.params), result.params)
    rendered = synth.render(result.params[None], 55)
    assert multires_stft_distance(rendered, target[None])[0] == pytest.approx(result.distance, rel=1e-6)


def test_the_default_start_is_the_definitions_default_patch(synth: Synth, agent: OnnxAgent, target: np.ndarray) -> None:
    result = match_with_agent(synth, agent, target, 55, 0)
    assert result.renders == 1 and result.history == []
    defaults = quantise_all(synth.definition, np.array(synth.definition.defaults_normalised()))
    np.testing.assert_array_equal(result.params, defaults)
    assert result.distance == result.distance_start


def test_progress_is_reported_after_every_step(synth: Synth, agent: OnnxAgent, target: np.ndarray) -> None:
    seen: list[MatchProgress] = []
    result = match_with_agent(synth, agent, target, 55, 4, on_step=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4]
    assert [p.distance for p in seen] == result.history
    best = [p.best_distance for p in seen]
    assert best == sorted(best, reverse=True) and best[-1] == result.distance
    before = [result.distance_start, *best[:-1]]
    assert [p.improved for p in seen] == [p.distance < b for p, b in zip(seen, before, strict=True)]
    improvements = [p.params for p in seen if p.improved]
    start = quantise_all(synth.definition, np.array(synth.definition.defaults_normalised()))
    np.testing.assert_array_equal(result.params, improvements[-1] if improvements else start)  # the last best


def test_bad_inputs_say_how_to_fix_them(synth: Synth, agent: OnnxAgent, target: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"shape \(16000,\).*load_target"):
        match_with_agent(synth, agent, target[:8000], 55, 2)
    with pytest.raises(ValueError, match="start_params must be 20 normalised values"):
        match_with_agent(synth, agent, target, 55, 2, start_params=np.full(20, 1.5))
    with pytest.raises(ValueError, match="steps must be >= 0"):
        match_with_agent(synth, agent, target, 55, -1)


def test_a_searching_step_keeps_the_best_of_its_candidates_and_never_loses_to_the_agents_own_step(
    synth: Synth, agent: OnnxAgent, target: np.ndarray
) -> None:
    params = quantise_all(synth.definition, np.full(len(synth.parameters), 0.5))
    action = np.full(len(synth.parameters), 0.7)
    spectra = log_spectra(target[None])
    alone, _, distance_alone = search_step(synth, params, action, 0.1, 55, spectra, 1, np.random.default_rng(0))
    np.testing.assert_array_equal(alone, quantise_all(synth.definition, params + 0.07))  # exactly the env's step
    best, audio, distance = search_step(synth, params, action, 0.1, 55, spectra, 8, np.random.default_rng(0))
    assert distance < distance_alone  # one of 7 variations sounds closer here
    assert multires_stft_distance(audio, target[None])[0] == pytest.approx(distance, rel=1e-6)
    np.testing.assert_array_equal(equal_loudness(synth.render(best[None], 55)), audio)  # as both front ends hear it


def test_a_searching_match_counts_every_candidate_it_rendered(
    synth: Synth, agent: OnnxAgent, target: np.ndarray
) -> None:
    result = match_with_agent(synth, agent, target, 55, 3, candidates=8, seed=1)
    assert result.renders == 3 * 8 + 1 and result.steps == 3 and result.method == "agent+search"
    assert result.history[0] <= match_with_agent(synth, agent, target, 55, 1).history[0]  # the agent's step is one
    again = match_with_agent(synth, agent, target, 55, 3, candidates=8, seed=1)
    assert again.history == result.history  # seeded
    with pytest.raises(ValueError, match="candidates must be >= 1"):
        match_with_agent(synth, agent, target, 55, 3, candidates=0)


def test_every_sound_of_a_match_is_brought_to_equal_loudness_once(
    synth: Synth, agent: OnnxAgent, target: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The observer and the distance hear the same sound at equal loudness: measured once per sound, not twice
    (the target, the start, and each step's render)."""
    sounds: list[int] = []

    def counted(audio: np.ndarray) -> np.ndarray:
        sounds.append(len(np.atleast_2d(audio)))
        return equal_loudness(audio)

    for module in (matching, features, distances):
        monkeypatch.setattr(module, "equal_loudness", counted)
    result = match_with_agent(synth, agent, target, 55, steps=5)
    assert result.steps == 5 and sum(sounds) == 1 + 1 + 5
    sounds.clear()
    match_with_agent(synth, agent, target, 55, steps=3, candidates=4)
    assert sum(sounds) == 1 + 1 + 3 * 4


def test_a_relay_plays_the_last_half_from_the_first_halfs_best_patch(
    synth: Synth, agent: OnnxAgent, target: np.ndarray, relayed_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relayed = OnnxAgent.load(relayed_model_dir, synth.definition)
    relay, first_steps = relayed.relay, STEPS - STEPS // 2
    assert agent.relay is None and relay is not None
    renders: list[int] = []
    render = synth.render

    def counted(params: np.ndarray, note: int) -> np.ndarray:
        renders.append(len(params))
        return render(params, note)

    seen: list[MatchProgress] = []
    with monkeypatch.context() as patch:
        patch.setattr(synth, "render", counted)
        result = match_with_agent(synth, relayed, target, 55, STEPS, on_step=seen.append, polish=False)
    assert sum(renders) == STEPS + 1 == result.renders  # the handover hears the best patch again, renders nothing
    first_seen: list[MatchProgress] = []
    first = match_with_agent(synth, agent, target, 55, first_steps, on_step=first_seen.append, polish=False)
    assert result.history[:first_steps] == first.history
    assert not np.array_equal(first.params, first_seen[-1].params)  # the best is not where the first agent ended
    assert result.distance == min(result.distance_start, *result.history)
    # the first step after the handover is the relay's step from the best patch so far, as the relay hears it
    heard = equal_loudness(synth.render(first.params[None], 55))
    aimed = relay.observe(equal_loudness(target[None]), at_equal_loudness=True)
    action = relay.act(aimed, relay.observe(heard, at_equal_loudness=True), first.params[None])[0]
    expected = move(synth.definition, first.params, action.astype(np.float64), relay.max_step)
    np.testing.assert_array_equal(seen[first_steps].params, expected)
    own = agent.act(agent.observe(equal_loudness(target[None]), at_equal_loudness=True),
                    agent.observe(heard, at_equal_loudness=True), first.params[None])[0]
    assert not np.array_equal(move(synth.definition, first.params, own.astype(np.float64), agent.max_step), expected)


def test_a_relay_that_does_not_fit_or_hears_otherwise_is_refused_naming_its_folder(
    synth: Synth, relayed_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(relayed_model_dir, folder)
    metadata = folder / RELAY_FOLDER / METADATA_FILE
    original = metadata.read_text()
    metadata.write_text(original.replace('"name": "builtin"', '"name": "nekobi"', 1))
    with pytest.raises(ModelMismatch, match=re.escape(str(folder / RELAY_FOLDER)) + ".*does not fit synth 'builtin'"):
        OnnxAgent.load(folder, synth.definition)
    raw = json.loads(original)
    metadata.write_text(json.dumps({**raw, "mel_ceiling_db": raw["mel_ceiling_db"] - 10.0}))
    with pytest.raises(ModelMismatch, match=re.escape(f"relay {folder / RELAY_FOLDER} hears with other features")):
        OnnxAgent.load(folder, synth.definition)
    with pytest.raises(ModelMismatch, match="hears with other features"):
        choose_matcher(synth.definition, folder)  # refused before a match starts, not halfway through it
    metadata.unlink()  # an export cut short
    with pytest.raises(ModelFolderError, match=re.escape(f"{folder / RELAY_FOLDER}: a relay folder without")):
        OnnxAgent.load(folder, synth.definition)


def test_the_last_steps_polish_the_best_patch_seeded(synth: Synth, agent: OnnxAgent, target: np.ndarray) -> None:
    agent_steps = STEPS - polish_steps(STEPS)
    seen: list[MatchProgress] = []
    result = match_with_agent(synth, agent, target, 55, STEPS, on_step=seen.append, seed=3)
    alone = match_with_agent(synth, agent, target, 55, agent_steps, polish=False)
    assert result.steps == STEPS and result.renders == STEPS + 1
    assert result.history[:agent_steps] == alone.history  # the agent's steps come first, as without the polish
    best, search, rng = alone.params, Polish(synth.definition), np.random.default_rng(3)
    for progress in seen[agent_steps:]:  # each polish step is the polish's proposal around the best patch so far
        np.testing.assert_array_equal(progress.params, search.propose(best, rng))
        search.adapt(progress.improved)
        best = progress.params if progress.improved else best
    np.testing.assert_array_equal(result.params, best)
    assert result.distance == min(result.distance_start, *result.history)
    again = match_with_agent(synth, agent, target, 55, STEPS, seed=3)
    other = match_with_agent(synth, agent, target, 55, STEPS, seed=4)
    assert again.history == result.history and other.history[agent_steps:] != result.history[agent_steps:]


def test_a_stop_during_the_polish_ends_the_match_there(synth: Synth, agent: OnnxAgent, target: np.ndarray) -> None:
    seen: list[MatchProgress] = []
    result = match_with_agent(synth, agent, target, 55, STEPS, on_step=seen.append,
                              should_stop=lambda: len(seen) >= STEPS - 1)
    assert result.steps == STEPS - 1 == len(result.history) and result.renders == STEPS


def test_a_policy_that_stalls_hands_over_and_the_polish_plays_the_rest(
    synth: Synth, target: np.ndarray, relayed_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relayed = OnnxAgent.load(relayed_model_dir, synth.definition)
    assert relayed.relay is not None and relayed.starts is None

    def still(target_mel: np.ndarray, current_mel: np.ndarray, params: np.ndarray) -> np.ndarray:
        return np.zeros_like(params, dtype=np.float32)  # never moves, so never closer: a stall from the first step

    for policy in (relayed, relayed.relay):
        monkeypatch.setattr(policy, "act", still)
    steps, stall = 64, matching.STALL_STEPS
    seen: list[MatchProgress] = []
    result = match_with_agent(synth, relayed, target, 55, steps, on_step=seen.append)
    phases = [progress.phase for progress in seen]
    assert phases == ["agent"] * stall + ["relay"] * stall + ["polish"] * (steps - 2 * stall)
    assert result.steps == steps and result.renders == steps + 1
    unpolished: list[MatchProgress] = []
    match_with_agent(synth, relayed, target, 55, steps, on_step=unpolished.append, polish=False)
    assert [progress.phase for progress in unpolished] == ["agent"] * (steps // 2) + ["relay"] * (steps // 2)
    alone = OnnxAgent.load(relayed_model_dir, synth.definition)
    alone.relay = None  # without a relay the stalled agent hands straight over to the polish
    monkeypatch.setattr(alone, "act", still)
    solo: list[MatchProgress] = []
    match_with_agent(synth, alone, target, 55, steps, on_step=solo.append)
    assert [progress.phase for progress in solo] == ["agent"] * stall + ["polish"] * (steps - stall)
