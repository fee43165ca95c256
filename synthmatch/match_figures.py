"""Pictures of a match: the target's and the current sound's log-mels, the distance over the steps, the knobs.

A :class:`MatchTrace` holds what a match looked like step by step (built from the ``on_step`` progress of
:func:`synthmatch.matching.match_with_agent`, the sounds rendered again): :func:`plot_match` draws its first and
last step as a PNG, :func:`animate_match` every step as a GIF (or an MP4 where ffmpeg exists). The spectrograms
are :func:`synthmatch.features.observe_mel` with the model's settings, so the picture shows what the agent hears.
matplotlib (the ``plot`` extra) is imported only when a picture is drawn, always on the Agg canvas.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from synthmatch.agent import OnnxAgent
from synthmatch.features import MEL_CEILING_DB, FeatureSettings, observe_mel
from synthmatch.matching import (
    MatchProgress,
    MatchResult,
    Phase,
    check_target_audio,
    match_with_agent,
    start_patch,
)
from synthmatch.reach import SUCCESS_DISTANCE
from synthmatch.synths import Synth

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Params = npt.NDArray[np.float64]
Mel = npt.NDArray[np.float32]

#: Frames per second of an animation: a 32-step match plays in about 8 s.
ANIMATION_FPS = 4
#: Resolution of saved pictures; with the figure sizes below a PNG stays well under 200 kB.
DPI = 80
PLOT_EXTRA_HINT = "pip install 'synthmatch[plot]'"
#: Background of each phase's steps on the distance curve (matplotlib colours, pale behind the curve).
PHASE_COLOURS: dict[Phase, str] = {"bank": "tab:orange", "agent": "tab:blue", "relay": "tab:purple",
                                   "polish": "tab:green", "search": "0.8"}


class PlottingUnavailable(ImportError):
    """matplotlib (or ffmpeg, for an MP4) is missing; the message says what to install."""


def require_matplotlib() -> ModuleType:
    """The matplotlib package; PlottingUnavailable names the extra to install when it is missing."""
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise PlottingUnavailable(f"pictures need matplotlib, which is not installed: {PLOT_EXTRA_HINT}") from None
    return matplotlib


class StepRecorder:
    """An ``on_step`` callback for :func:`synthmatch.matching.match_with_agent` that keeps every step's progress."""

    def __init__(self) -> None:
        self.steps: list[MatchProgress] = []

    def __call__(self, progress: MatchProgress) -> None:
        self.steps.append(progress)


@dataclass(frozen=True)
class MatchTrace:
    """A match, frame by frame, as the pictures show it; frame i is the sound after ``steps[i]`` steps (0: start)."""

    method: str
    """The method's name, as in MatchResult."""
    parameter_names: tuple[str, ...]
    """Names of the synth's parameters, in order."""
    target_mel: Mel
    """What the agent hears of the target: log-mel dB [n_mels, frames]."""
    steps: npt.NDArray[np.int64]
    """The step (or, for a search, the render after the start) of each frame [F]."""
    params: Params
    """The patch of each frame [F, P], normalised and quantised."""
    mels: Mel
    """The log-mel of each frame's sound [F, n_mels, frames], dB."""
    distances: npt.NDArray[np.float64]
    """The distance curve [S + 1]: the start, then after every step or render, in nepers."""
    target_params: Params | None
    """The target's patch [P] when known (a synthetic target), else None."""
    features: FeatureSettings
    """The front end the mels were computed with (for the time and frequency axes)."""
    phases: tuple[Phase, ...] = ()
    """Who chose each step's patch [S] (:data:`~synthmatch.matching.Phase`); empty for a search's trace."""

    @property
    def best_step(self) -> int:
        """The step whose sound came closest (the first, on a tie): the patch a match returns."""
        return int(np.argmin(self.distances))

    @property
    def best_frame(self) -> int:
        """The frame of the best step; a search's trace has only that one."""
        return int(np.argmin(self.distances[self.steps]))

    @property
    def step_label(self) -> str:
        """What one unit of the x axis is: an agent "step" or a search's "render"."""
        return "step" if self.method == "agent" else "render"


def build_trace(
    synth: Synth, target_audio: npt.ArrayLike, result: MatchResult, progress: Sequence[MatchProgress] = (),
    start_params: npt.ArrayLike | None = None, target_params: npt.ArrayLike | None = None,
    features: FeatureSettings | None = None, ceiling_db: float = MEL_CEILING_DB,
) -> MatchTrace:
    """The trace of ``result`` on ``synth``: with ``progress`` (every step's, from a StepRecorder) the start and
    each step are frames; without it (a search method) only the best patch is.

    The frames' sounds are rendered again at ``result.note`` (one batched render) and heard with ``features``
    (default: the synth's rate with the standard settings; pass an agent's ``features`` and ``mel_ceiling_db``).
    """
    target = check_target_audio(synth, target_audio)
    if progress and len(progress) != result.steps:
        raise ValueError(f"progress has {len(progress)} steps, the result {result.steps}; record every step with a "
                         "StepRecorder passed as on_step to match_with_agent")
    if progress:
        start = start_patch(synth, start_params)
        params = np.stack([start, *(p.params for p in progress)])
        steps = np.arange(len(params))
        distances = np.array([result.distance_start, *(p.distance for p in progress)])
        phases = tuple(p.phase for p in progress)
    else:
        phases = ()
        distances = np.array([result.distance_start, *result.history])
        params, steps = result.params[None], np.array([int(np.argmin(distances))])
    settings = features or FeatureSettings(sample_rate=synth.sample_rate)
    mels = observe_mel(synth.render(params, result.note), settings, ceiling_db)
    known = None if target_params is None else np.asarray(target_params, dtype=np.float64)
    if known is not None and known.shape != (len(synth.parameters),):
        raise ValueError(f"target_params must hold {len(synth.parameters)} normalised values, got shape {known.shape}")
    return MatchTrace(
        method=result.method, parameter_names=synth.definition.parameter_names,
        target_mel=observe_mel(target[None], settings, ceiling_db)[0], steps=steps.astype(np.int64),
        params=params.astype(np.float64), mels=mels, distances=distances.astype(np.float64), target_params=known,
        features=settings, phases=phases,
    )


def match_and_trace(
    synth: Synth, agent: OnnxAgent, target_audio: npt.ArrayLike, note: int, steps: int,
    start_params: npt.ArrayLike | None = None, target_params: npt.ArrayLike | None = None,
) -> tuple[MatchResult, MatchTrace]:
    """:func:`match_with_agent` with every step recorded: its result and its trace, heard as the agent hears."""
    recorder = StepRecorder()
    result = match_with_agent(synth, agent, target_audio, note, steps, start_params, on_step=recorder)
    trace = build_trace(synth, target_audio, result, recorder.steps, start_params, target_params,
                        agent.features, agent.mel_ceiling_db)
    return result, trace


class _FrameRow:
    """One row of a match figure: the target's log-mel, a frame's log-mel and its parameters as bars."""

    def __init__(self, figure: Figure, cells: Any, trace: MatchTrace, top: float) -> None:
        target_axes, current_axes, knobs = (figure.add_subplot(cell) for cell in cells)
        self.trace = trace
        extent = (0.0, trace.target_mel.shape[1] * trace.features.hop_length / trace.features.sample_rate,
                  0.0, float(trace.target_mel.shape[0]))
        style: dict[str, Any] = {"origin": "lower", "aspect": "auto", "cmap": "magma", "extent": extent,
                 "vmin": trace.features.floor_db, "vmax": top, "interpolation": "nearest"}
        target_axes.imshow(trace.target_mel, **style)
        target_axes.set_title("target")
        self.current = current_axes.imshow(trace.mels[0], **style)
        self.current_axes = current_axes
        for axes in (target_axes, current_axes):
            axes.set_xlabel("time (s)")
            axes.set_ylabel(f"mel band ({trace.features.fmin_hz:.0f} Hz up)")
        names = range(len(trace.parameter_names))
        self.bars = knobs.barh(names, trace.params[0], color="tab:blue", height=0.7)
        if trace.target_params is not None:
            knobs.scatter(trace.target_params, names, marker="|", s=120, color="black", linewidths=2, zorder=3)
            knobs.set_title("parameters (normalised), | target")
        else:
            knobs.set_title("parameters (normalised)")
        knobs.set_yticks(list(names), trace.parameter_names, fontsize=6)
        knobs.set_xlim(0.0, 1.0)
        knobs.invert_yaxis()
        knobs.tick_params(axis="x", labelsize=7)

    def show(self, frame: int) -> None:
        """Put frame ``frame``'s sound and patch into this row."""
        trace = self.trace
        self.current.set_data(trace.mels[frame])
        step = int(trace.steps[frame])
        best = " (best)" if step == trace.best_step else ""
        self.current_axes.set_title(f"{trace.step_label} {step}{best}: {trace.distances[step]:.3f} Np")
        for bar, value in zip(self.bars, trace.params[frame], strict=True):
            bar.set_width(float(value))


def _draw_distance(axes: Axes, trace: MatchTrace) -> Any:
    """The distance curve and the best so far on ``axes``; returns the marker of the frame shown (to move it)."""
    x = np.arange(len(trace.distances))
    axes.plot(x, trace.distances, color="tab:blue", marker=".", label="distance")
    axes.plot(x, np.minimum.accumulate(trace.distances), color="tab:green", linestyle="--", label="best so far")
    marker = axes.scatter([], [], s=60, color="tab:red", zorder=3, label="shown")
    axes.axhline(SUCCESS_DISTANCE, color="tab:red", linestyle=":", linewidth=1,
                 label=f"success (< {SUCCESS_DISTANCE:g} Np)")
    _shade_phases(axes, trace.phases)
    axes.set_title("distance to the target (mrstft, nepers)")
    axes.set_xlabel(f"{trace.step_label}s")
    axes.set_ylim(bottom=0.0)
    axes.legend(loc="upper right", fontsize=7)
    return marker


def phase_spans(phases: Sequence[Phase]) -> list[tuple[Phase, int, int]]:
    """The runs of equal phases as (phase, first step, last step), steps counted from 1 as in the trace."""
    spans: list[tuple[Phase, int, int]] = []
    for step, phase in enumerate(phases, start=1):
        if spans and spans[-1][0] == phase:
            spans[-1] = (phase, spans[-1][1], step)
        else:
            spans.append((phase, step, step))
    return spans


def _shade_phases(axes: Axes, phases: Sequence[Phase]) -> None:
    """Shade and name each run of steps one phase chose (bank, agent, relay, polish) behind the distance curve."""
    if len(set(phases)) < 2:
        return  # one phase: nothing to tell apart
    for phase, first, last in phase_spans(phases):
        axes.axvspan(first - 0.5, last + 0.5, color=PHASE_COLOURS[phase], alpha=0.15, linewidth=0)
        axes.text((first + last) / 2, 0.03, phase, transform=axes.get_xaxis_transform(), ha="center", va="bottom",
                  fontsize=8, color="0.25")


def _mark(marker: Any, trace: MatchTrace, frames: Sequence[int]) -> None:
    """Move the distance curve's marker onto ``frames``."""
    steps = trace.steps[list(frames)]
    marker.set_offsets(np.column_stack([steps, trace.distances[steps]]))


def _figure(trace: MatchTrace, rows: int) -> tuple[Figure, list[_FrameRow], Any]:
    """An Agg figure with ``rows`` frame rows above the distance curve."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12.0, 3.0 * rows + 2.4), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(rows + 1, 3, width_ratios=(1.0, 1.0, 1.1), height_ratios=(*([3.0] * rows), 2.0))
    top = float(max(trace.target_mel.max(), trace.mels.max()))
    frame_rows = [_FrameRow(figure, (grid[r, 0], grid[r, 1], grid[r, 2]), trace, top) for r in range(rows)]
    marker = _draw_distance(figure.add_subplot(grid[rows, :]), trace)
    best = float(trace.distances.min())
    figure.suptitle(f"{trace.method}: {trace.distances[0]:.3f} -> {best:.3f} Np in {len(trace.distances) - 1} "
                    f"{trace.step_label}s")
    return figure, frame_rows, marker


def plot_match(trace: MatchTrace, out: str | Path | None = None, frames: Sequence[int] | None = None) -> Figure:
    """The figure of ``frames`` (default: the start and the best step, the patch the match returns), saved to
    ``out``; a search's trace has one frame, its best patch."""
    shown = list(frames) if frames is not None else sorted({0, trace.best_frame})
    if not shown or not all(0 <= f < len(trace.steps) for f in shown):
        raise ValueError(f"frames {shown} must be indices into the trace's {len(trace.steps)} frames")
    figure, rows, marker = _figure(trace, len(shown))
    for row, frame in zip(rows, shown, strict=True):
        row.show(frame)
    _mark(marker, trace, shown)
    if out is not None:
        figure.savefig(out, dpi=DPI)
    return figure


def check_animation_path(out: str | Path) -> str:
    """The suffix of ``out`` (".gif" or ".mp4") once it is known to be writable here: matplotlib, ffmpeg for MP4."""
    matplotlib = require_matplotlib()
    suffix = Path(out).suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"{out}: an animation is written as .gif or .mp4, not {suffix or 'no suffix'!r}")
    if suffix == ".mp4" and shutil.which(matplotlib.rcParams["animation.ffmpeg_path"]) is None:
        raise PlottingUnavailable(f"{out}: an MP4 needs ffmpeg, which is not installed (apt-get install ffmpeg); "
                                  "or write a .gif")
    return suffix


def animate_match(trace: MatchTrace, out: str | Path, fps: int = ANIMATION_FPS) -> int:
    """Every frame of ``trace`` into ``out``: a GIF (Pillow), or an MP4 where ffmpeg exists; returns the frames."""
    if len(trace.steps) < 2:
        raise ValueError(f"an animation needs the per-step trace of the agent; method {trace.method!r} leaves only "
                         "its best patch (use --method agent, or --plot for a picture)")
    suffix = check_animation_path(out)
    from matplotlib.animation import FFMpegWriter, PillowWriter

    figure, (row,), marker = _figure(trace, 1)
    row.show(trace.best_frame)  # lay out once (a "(best)" title), then keep that layout: laying out every frame
    figure.canvas.draw()        # costs more than drawing it
    figure.set_layout_engine("none")
    writer = PillowWriter(fps=fps) if suffix == ".gif" else FFMpegWriter(fps=fps)
    with writer.saving(figure, str(out), DPI):
        for frame in range(len(trace.steps)):
            row.show(frame)
            _mark(marker, trace, [frame])
            writer.grab_frame()
    return len(trace.steps)
