"""Pictures of a match: the trace of the shipped agent's steps, the PNG of its first and last step, the GIF."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from pedalboard.io import AudioFile

from synthmatch.agent import OnnxAgent, default_model_dir
from synthmatch.cli import build_parser
from synthmatch.match_command import run_match
from synthmatch.match_figures import (
    MatchTrace,
    PlottingUnavailable,
    StepRecorder,
    animate_match,
    build_trace,
    match_and_trace,
    phase_spans,
    plot_match,
)
from synthmatch.matching import match_with_agent, start_patch
from synthmatch.params import quantise_all
from synthmatch.reach import SUCCESS_DISTANCE
from synthmatch.synths import Synth, open_synth

pytest.importorskip("matplotlib", reason="pictures need the plot extra: pip install 'synthmatch[plot]'")
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402  (Pillow comes with matplotlib)

NOTE, STEPS = 50, 3
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def synth() -> Synth:
    return open_synth("builtin")


@pytest.fixture(scope="module")
def agent(synth: Synth) -> OnnxAgent:
    return OnnxAgent.load(default_model_dir(synth.definition), synth.definition)


@pytest.fixture(scope="module")
def target_params(synth: Synth) -> np.ndarray:
    return quantise_all(synth.definition, np.random.default_rng(7).random(len(synth.parameters)))


@pytest.fixture(scope="module")
def target(synth: Synth, target_params: np.ndarray) -> np.ndarray:
    return synth.render(target_params[None], NOTE)[0]


@pytest.fixture(scope="module")
def trace(synth: Synth, agent: OnnxAgent, target: np.ndarray, target_params: np.ndarray) -> MatchTrace:
    return match_and_trace(synth, agent, target, NOTE, STEPS, target_params=target_params)[1]


def titles(figure: Figure) -> list[str]:
    return [axes.get_title() for axes in figure.axes]


def test_the_trace_holds_the_start_and_every_step_as_the_agent_heard_them(
    synth: Synth, agent: OnnxAgent, target: np.ndarray, target_params: np.ndarray, trace: MatchTrace
) -> None:
    result = match_with_agent(synth, agent, target, NOTE, STEPS)
    assert trace.method == "agent" and list(trace.steps) == [0, 1, 2, 3]
    np.testing.assert_allclose(trace.distances, [result.distance_start, *result.history])
    np.testing.assert_array_equal(trace.params[0], start_patch(synth, None))
    assert trace.mels.shape == (STEPS + 1, *trace.target_mel.shape)
    np.testing.assert_allclose(trace.target_mel, agent.observe(target[None])[0])
    np.testing.assert_allclose(trace.mels[-1], agent.observe(synth.render(trace.params[-1:], NOTE))[0], atol=1e-4)
    np.testing.assert_array_equal(trace.target_params, target_params)


def test_the_png_shows_the_start_and_the_best_step_beside_the_target(trace: MatchTrace, tmp_path: Path) -> None:
    out = tmp_path / "match.png"
    figure = plot_match(trace, out)
    assert out.read_bytes().startswith(PNG_SIGNATURE) and out.stat().st_size < 200_000
    names = titles(figure)
    assert len(names) == 2 * 3 + 1  # two rows of (target, current, parameters), then the distance curve
    assert names.count("target") == 2 and names.count("parameters (normalised), | target") == 2
    best = trace.best_step
    assert best > 0 and trace.distances[best] == trace.distances.min()
    assert names[1] == f"step 0: {trace.distances[0]:.3f} Np"
    assert names[4] == f"step {best} (best): {trace.distances[best]:.3f} Np"
    assert names[-1] == "distance to the target (mrstft, nepers)"
    threshold = [line for line in figure.axes[-1].get_lines() if line.get_label().startswith("success")]
    assert len(threshold) == 1 and set(threshold[0].get_ydata()) == {SUCCESS_DISTANCE}  # the environment's success
    bars = figure.axes[5].patches
    np.testing.assert_allclose([bar.get_width() for bar in bars], trace.params[best])
    last = titles(plot_match(trace, frames=[STEPS]))
    assert len(last) == 4 and last[1].startswith(f"step {STEPS}")
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > 600


def test_the_distance_curve_names_who_chose_each_run_of_steps(trace: MatchTrace) -> None:
    assert trace.phases == ("agent", "agent", "relay")  # 3 steps: no bank, no polish; the relay the last half
    distance_axes = plot_match(trace).axes[-1]
    assert [text.get_text() for text in distance_axes.texts] == ["agent", "relay"]
    assert phase_spans(["bank", "bank", "agent", "polish", "polish"]) == [
        ("bank", 1, 2), ("agent", 3, 3), ("polish", 4, 5)]


def test_the_gif_has_one_frame_per_step_and_the_start(trace: MatchTrace, tmp_path: Path) -> None:
    out = tmp_path / "match.gif"
    assert animate_match(trace, out) == STEPS + 1
    with Image.open(out) as image:
        assert image.format == "GIF" and getattr(image, "n_frames", 1) == STEPS + 1


def test_animations_refuse_what_they_cannot_write(trace: MatchTrace, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="as .gif or .mp4"):
        animate_match(trace, tmp_path / "match.avi")
    if shutil.which("ffmpeg") is None:
        with pytest.raises(PlottingUnavailable, match="needs ffmpeg"):
            animate_match(trace, tmp_path / "match.mp4")


def test_a_search_result_is_drawn_as_its_curve_and_best_patch(
    synth: Synth, target: np.ndarray, tmp_path: Path
) -> None:
    from synthmatch.search_methods import random_search

    result = random_search(synth, target, NOTE, 6, np.random.default_rng(0))
    trace = build_trace(synth, target, result)
    assert len(trace.distances) == result.renders and trace.distances[trace.steps[0]] == result.distance
    np.testing.assert_array_equal(trace.params[0], result.params)
    figure = plot_match(trace, tmp_path / "random.png")
    names = titles(figure)
    assert trace.phases == () and not figure.axes[-1].texts  # a search has no phases to shade
    best = f"render {trace.steps[0]} (best): {result.distance:.3f} Np"
    assert names[:3] == ["target", best, "parameters (normalised)"]
    with pytest.raises(ValueError, match="needs the per-step trace of the agent"):
        animate_match(trace, tmp_path / "random.gif")


def test_a_trace_needs_every_step(synth: Synth, agent: OnnxAgent, target: np.ndarray) -> None:
    recorder = StepRecorder()
    result = match_with_agent(synth, agent, target, NOTE, STEPS, on_step=recorder)
    with pytest.raises(ValueError, match="progress has 1 steps, the result 3"):
        build_trace(synth, target, result, recorder.steps[:1])


def test_without_matplotlib_the_error_names_the_extra(
    trace: MatchTrace, target_wav: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    extra = r"pip install 'synthmatch\[plot\]'"
    with pytest.raises(PlottingUnavailable, match=extra):
        plot_match(trace)
    with pytest.raises(PlottingUnavailable, match=extra):
        animate_match(trace, tmp_path / "match.gif")
    with pytest.raises(PlottingUnavailable, match=extra):  # before the match runs
        run_match(match_args(target_wav, plot=tmp_path / "match.png"))


@pytest.fixture(scope="module")
def target_wav(synth: Synth, target: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("targets") / "target.wav"
    with AudioFile(str(path), "w", samplerate=synth.sample_rate, num_channels=1) as file:
        file.write(target[None])
    return path


def match_args(
    target_wav: Path, *extra: str, plot: Path | None = None, animate: Path | None = None
) -> argparse.Namespace:
    """`synthmatch match TARGET ...` as parsed, with ``--plot``/``--animate`` set (the cli lines come separately)."""
    args = build_parser().parse_args(["match", str(target_wav), "--note", str(NOTE), *extra])
    args.plot, args.animate = plot, animate
    return args


def test_match_command_writes_the_picture_and_the_animation(
    target_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot, animate = tmp_path / "m.png", tmp_path / "m.gif"
    assert run_match(match_args(target_wav, "--steps", "2", plot=plot, animate=animate)) == 0
    out = capsys.readouterr().out
    assert f"picture written to {plot}" in out and f"animation written to {animate}" in out
    assert plot.read_bytes().startswith(PNG_SIGNATURE)
    with Image.open(animate) as image:
        assert getattr(image, "n_frames", 1) == 3


def test_match_command_plots_a_search_and_refuses_to_animate_it_before_matching(
    target_wav: Path, tmp_path: Path
) -> None:
    plot = tmp_path / "random.png"
    assert run_match(match_args(target_wav, "--method", "random", "--steps", "4", plot=plot)) == 0
    assert plot.read_bytes().startswith(PNG_SIGNATURE)
    args = match_args(target_wav, "--method", "random", animate=tmp_path / "random.gif")
    with pytest.raises(ValueError, match="--animate shows the agent's every step"):
        run_match(args)
    with pytest.raises(ValueError, match="as .gif or .mp4"):
        run_match(match_args(target_wav, animate=tmp_path / "match.webm"))
