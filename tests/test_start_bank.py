"""The start bank: read and checked like the model folder, rendered first in a match, built from the agent's matches."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from model_copies import headless_copy
from wav_files import write_wav

from synthmatch.agent import OnnxAgent
from synthmatch.agent_methods import agent_then_refine
from synthmatch.loudness import equal_loudness
from synthmatch.match_rules import move
from synthmatch.matching import MatchProgress, match_with_agent
from synthmatch.model_folder import RELAY_FOLDER, ModelFolderError, ModelMismatch
from synthmatch.params import quantise_all
from synthmatch.start_bank import STARTS_FILE, bank_for, load_start_bank, write_start_bank
from synthmatch.synths import Synth
from synthmatch.training.build_start_bank import build_start_bank, main, medoids
from synthmatch.training.evaluate import held_synth
from synthmatch.training.targets import folder_targets

torch.set_num_threads(1)

STEPS = 8


@pytest.fixture(scope="module")
def target_patch(synth: Synth) -> np.ndarray:
    return quantise_all(synth.definition, np.random.default_rng(5).random(len(synth.parameters)))


@pytest.fixture(scope="module")
def banked_model_dir(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, synth: Synth, target_patch: np.ndarray
) -> Path:
    """The tiny model folder with a bank of three starts, one of them the target's own patch, and no one-shot network
    (whose guess would be a fourth start: tested on its own below)."""
    folder = headless_copy(tiny_model_dir, tmp_path_factory.mktemp("banked") / "model")
    write_start_bank(folder, synth.definition, three_starts(synth, target_patch), {"test": True})
    return folder


def three_starts(synth: Synth, target_patch: np.ndarray) -> np.ndarray:
    """A bank of three patches [3, P], the second the target's own."""
    others = np.random.default_rng(7).random((2, len(synth.parameters)))
    return np.vstack([others[0], target_patch, others[1]])


def test_a_bank_is_written_and_read_back_for_its_synth(synth: Synth, banked_model_dir: Path, tiny_model_dir: Path,
                                                       target_patch: np.ndarray) -> None:
    bank = load_start_bank(banked_model_dir, synth.definition)
    assert bank is not None and bank.shape == (3, len(synth.parameters))
    np.testing.assert_allclose(bank[1], target_patch, atol=1e-6)
    assert load_start_bank(tiny_model_dir, synth.definition) is None
    assert OnnxAgent.load(banked_model_dir, synth.definition).starts is not None
    assert OnnxAgent.load(tiny_model_dir, synth.definition).starts is None


@pytest.mark.parametrize(("change", "error", "words"), [
    (lambda d: d.update(parameters=d["parameters"][::-1]), ModelMismatch, "made for other parameters"),
    (lambda d: d.update(format=9), ModelFolderError, "format 9 is not 1"),
    (lambda d: d["patches"][0].__setitem__(0, 1.5), ModelFolderError, "normalised values in [0, 1]"),
    (lambda d: d["patches"][0].pop(), ModelFolderError, "malformed patches"),
    (lambda d: d.update(patches=[]), ModelFolderError, "one or more lists"),
    (lambda d: d.update(parameters=None), ModelFolderError, "'parameters' must be a list"),
    (lambda d: d["patches"][0].__setitem__(0, "0.5"), ModelFolderError, "malformed patches"),
])
def test_a_bad_bank_is_refused_naming_its_file_and_the_fix(
    synth: Synth, banked_model_dir: Path, tmp_path: Path, change, error: type[Exception], words: str
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(banked_model_dir, folder)
    data = json.loads((folder / STARTS_FILE).read_text())
    change(data)
    (folder / STARTS_FILE).write_text(json.dumps(data))
    with pytest.raises(error, match=re.escape(str(folder / STARTS_FILE)) + ".*" + re.escape(words) + ".*rebuild it"):
        OnnxAgent.load(folder, synth.definition)
    (folder / STARTS_FILE).write_text("{not json")
    with pytest.raises(ModelFolderError, match="unreadable"):
        load_start_bank(folder, synth.definition)


def test_exporting_another_agent_into_the_folder_removes_its_bank(
    synth: Synth, banked_model_dir: Path, tmp_path: Path
) -> None:
    from synthmatch.training.export import export_untrained_model
    from synthmatch.training.networks import NetworkConfig

    folder = tmp_path / "model"
    shutil.copytree(banked_model_dir, folder)
    small = NetworkConfig(embed_dim=32, channels=8, hidden=32)
    export_untrained_model(synth.definition, folder, small, seed=2)
    assert not (folder / STARTS_FILE).exists() and OnnxAgent.load(folder, synth.definition).starts is None
    shutil.copy(banked_model_dir / STARTS_FILE, folder / STARTS_FILE)  # a new relay: the bank was built without it
    export_untrained_model(synth.definition, folder / RELAY_FOLDER, small, seed=3, oneshot=False)
    relayed = OnnxAgent.load(folder, synth.definition)
    assert relayed.relay is not None and relayed.starts is None


def test_a_bank_takes_at_most_half_the_steps() -> None:
    bank = np.zeros((11, 20))
    assert bank_for(bank, 32) is bank and bank_for(bank, 22) is bank
    assert bank_for(bank, 21) is None and bank_for(None, 32) is None


def test_the_bank_is_heard_first_and_the_agent_goes_on_from_the_closest(
    synth: Synth, banked_model_dir: Path, target_patch: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = OnnxAgent.load(banked_model_dir, synth.definition)
    assert agent.starts is not None
    target = synth.render(target_patch[None], 55)[0]
    renders = count_renders(synth, monkeypatch)
    seen: list[MatchProgress] = []
    result = match_with_agent(synth, agent, target, 55, STEPS, on_step=seen.append)
    monkeypatch.undo()
    assert renders == [1] * (STEPS + 1) and result.renders == STEPS + 1  # each start is one step, one render
    assert len(result.history) == len(seen) == STEPS and [p.step for p in seen] == list(range(1, STEPS + 1))
    np.testing.assert_array_equal(seen[1].params, quantise_all(synth.definition, agent.starts[1]))
    assert seen[1].improved and seen[1].distance < 1e-3 and result.distance == seen[1].distance
    # the agent's first step is its step from the target's patch, the closest one heard
    heard = agent.observe(equal_loudness(synth.render(seen[1].params[None], 55)), at_equal_loudness=True)
    aimed = agent.observe(equal_loudness(target[None]), at_equal_loudness=True)
    action = agent.act(aimed, heard, seen[1].params[None])[0].astype(np.float64)
    np.testing.assert_array_equal(seen[3].params, move(synth.definition, seen[1].params, action, agent.max_step))


def test_the_bank_is_left_out_where_the_steps_cannot_afford_it_or_each_step_searches(
    synth: Synth, banked_model_dir: Path, target_patch: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = OnnxAgent.load(banked_model_dir, synth.definition)
    target = synth.render(target_patch[None], 55)[0]
    renders = count_renders(synth, monkeypatch)
    short = match_with_agent(synth, agent, target, 55, 5)
    assert renders == [1] * 6 and short.distance > 1e-3
    renders.clear()
    match_with_agent(synth, agent, target, 55, STEPS, candidates=2)
    assert renders == [1] + [2] * STEPS
    renders.clear()
    match_with_agent(synth, agent, target, 55, STEPS, bank=False)
    assert renders == [1] * (STEPS + 1)
    renders.clear()  # agent+refine's agent plays without it (docs/evaluation.md, "Start bank")
    agent_then_refine(synth, target, 55, 32, np.random.default_rng(0), banked_model_dir)
    assert renders[:25] == [1] * 25 and sum(renders) == 33


def count_renders(synth: Synth, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Patch ``synth.render`` (until ``monkeypatch`` undoes it) to note each call's batch size in the list returned."""
    renders: list[int] = []
    render = synth.render
    monkeypatch.setattr(synth, "render", lambda params, note: renders.append(len(params)) or render(params, note))
    return renders


def test_the_one_shot_guess_for_the_target_is_heard_before_the_bank(
    synth: Synth, banked_model_dir: Path, tiny_model_dir: Path, target_patch: np.ndarray, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)  # with its one-shot network
    assert OnnxAgent.load(folder, synth.definition).oneshot is None  # no bank: no guess either, as before banks
    shutil.copy(banked_model_dir / STARTS_FILE, folder / STARTS_FILE)
    agent = OnnxAgent.load(folder, synth.definition)
    assert agent.oneshot is not None and agent.starts is not None
    target = synth.render(target_patch[None], 55)[0]
    aimed = agent.observe(equal_loudness(target[None]), at_equal_loudness=True)
    guess = agent.oneshot.predict(aimed)[0]
    seen: list[MatchProgress] = []
    match_with_agent(synth, agent, target, 55, STEPS, on_step=seen.append)
    assert [progress.phase for progress in seen[:5]] == ["bank"] * 4 + ["agent"]  # the guess, then the 3 of the bank
    np.testing.assert_array_equal(seen[0].params, quantise_all(synth.definition, np.clip(guess, 0.0, 1.0)))
    for progress, start in zip(seen[1:4], agent.starts, strict=True):
        np.testing.assert_array_equal(progress.params, quantise_all(synth.definition, start))
    seen.clear()  # 4 starts are more than half of 7 steps, the bank's 3 are not: the bank plays, the guess does not
    match_with_agent(synth, agent, target, 55, 7, on_step=seen.append)
    assert [progress.phase for progress in seen[:4]] == ["bank"] * 3 + ["agent"]
    np.testing.assert_array_equal(seen[0].params, quantise_all(synth.definition, agent.starts[0]))
    seen.clear()  # and at 5 steps neither
    match_with_agent(synth, agent, target, 55, 5, on_step=seen.append)
    assert "bank" not in {progress.phase for progress in seen}


def test_a_broken_one_shot_network_leaves_the_agent_playable_without_the_guess(
    synth: Synth, banked_model_dir: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    shutil.copy(banked_model_dir / STARTS_FILE, folder / STARTS_FILE)
    (folder / "oneshot.onnx").write_bytes(b"not a network")
    with pytest.warns(RuntimeWarning, match=r"oneshot\.onnx: onnxruntime cannot load it.*without the one-shot guess"):
        agent = OnnxAgent.load(folder, synth.definition)
    assert agent.oneshot is None and agent.starts is not None and len(agent.starts) == 3


def test_a_stop_during_the_bank_ends_the_match_after_the_patch_it_was_rendering(
    synth: Synth, banked_model_dir: Path, target_patch: np.ndarray
) -> None:
    agent = OnnxAgent.load(banked_model_dir, synth.definition)
    target = synth.render(target_patch[None], 55)[0]
    seen: list[MatchProgress] = []
    result = match_with_agent(synth, agent, target, 55, STEPS, on_step=seen.append, should_stop=lambda: len(seen) == 2)
    assert result.steps == len(seen) == 2 and result.renders == 3
    np.testing.assert_array_equal(result.params, seen[1].params)  # the target's own patch, heard second


def test_with_a_bank_and_a_relay_the_relay_plays_the_last_half_of_the_agents_steps(
    synth: Synth, relayed_model_dir: Path, target_patch: np.ndarray, tmp_path: Path
) -> None:
    folder = headless_copy(relayed_model_dir, tmp_path / "model")
    write_start_bank(folder, synth.definition, three_starts(synth, target_patch), {})
    agent = OnnxAgent.load(folder, synth.definition)
    relay = agent.relay
    assert relay is not None and agent.starts is not None
    target = synth.render(target_patch[None], 55)[0]
    seen: list[MatchProgress] = []
    match_with_agent(synth, agent, target, 55, STEPS, on_step=seen.append)
    assert len(seen) == STEPS
    # 3 bank steps, the first agent 2, the relay 1 from the best patch after step 5, the polish the last 2 (8 // 4)
    assert [progress.phase for progress in seen] == ["bank"] * 3 + ["agent"] * 2 + ["relay"] + ["polish"] * 2
    best = min(seen[:5], key=lambda progress: progress.distance)
    heard = relay.observe(equal_loudness(synth.render(best.params[None], 55)), at_equal_loudness=True)
    aimed = relay.observe(equal_loudness(target[None]), at_equal_loudness=True)
    action = relay.act(aimed, heard, best.params[None])[0].astype(np.float64)
    np.testing.assert_array_equal(seen[5].params, move(synth.definition, best.params, action, relay.max_step))
    own = agent.act(aimed, heard, best.params[None])[0].astype(np.float64)
    assert not np.array_equal(seen[5].params, move(synth.definition, best.params, own, agent.max_step))



def test_the_bank_is_built_from_the_agents_own_matches(
    synth: Synth, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    patches = quantise_all(synth.definition, np.random.default_rng(9).random((3, len(synth.parameters))))
    for index, patch in enumerate(patches):
        write_wav(recordings / f"{index}.wav", synth.render(patch[None], 50 + 5 * index)[0], synth.sample_rate)
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    (folder / STARTS_FILE).write_text('{"format": 1, "parameters": null}')  # an old, broken bank plays no part
    path, count = build_start_bank(folder, recordings, count=2)
    assert count == 2
    data = json.loads(path.read_text())
    assert path == folder / STARTS_FILE and data["built_from"]["files"] == 3 and data["built_from"]["count"] == 2
    bank = load_start_bank(folder, synth.definition)
    assert bank is not None and bank.shape == (2, len(synth.parameters))
    agent = OnnxAgent.load(tiny_model_dir, synth.definition)
    bests = [match_with_agent(held_synth({}, t.prepared), agent, t.audio, t.note, 32).params
             for t in folder_targets(synth, recordings) if t.prepared is not None]
    assert len(bests) == 3
    for start in bank:  # every start is one of the agent's best patches
        assert min(np.abs(start - best).max() for best in bests) < 1e-6
    assert main(["--model", str(folder), "--recordings", str(recordings), "--count", "4"]) == 1
    assert "--count 4: choose 1 to 3 starts" in capsys.readouterr().err


def test_medoids_are_points_nearest_each_groups_centre() -> None:
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(0.2, 0.01, (10, 3)), rng.normal(0.8, 0.01, (10, 3))])
    chosen = medoids(points, 2, seed=1)
    assert chosen.shape == (2, 3) and sorted(np.round(chosen.mean(1)).tolist()) == [0.0, 1.0]
    assert all(any(np.array_equal(c, p) for p in points) for c in chosen)
