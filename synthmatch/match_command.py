"""`synthmatch match TARGET.wav`: match one sound file with the agent or a baseline, print it, save the patch.

Every method of the registry (:mod:`synthmatch.match_methods`) runs here in the core, on onnxruntime and
numpy, without the training wing. ``--plot`` and ``--animate`` draw the match with
:mod:`synthmatch.match_figures` (the agent's every step; a search's distance curve and best patch).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from synthmatch.agent import OnnxAgent, default_model_dir, load_metadata
from synthmatch.audio_files import load_target
from synthmatch.definitions import SynthDefinition, find_definition
from synthmatch.features import MEL_CEILING_DB, FeatureSettings
from synthmatch.match_figures import (
    StepRecorder,
    animate_match,
    build_trace,
    check_animation_path,
    plot_match,
    require_matplotlib,
)
from synthmatch.match_methods import get_method, match_method
from synthmatch.matched_audio import check_audio_out_path, compare_audio, render_matched, write_audio
from synthmatch.matching import MatchResult, ProgressCallback, match_with_agent
from synthmatch.model_choice import choose_matcher
from synthmatch.note_length import longest_render_samples
from synthmatch.output_level import OutputLevel
from synthmatch.params import denormalise_all
from synthmatch.patch_exports import exports_from
from synthmatch.patches import Patch, write_patch
from synthmatch.prepared_target import level_of, prepare_target
from synthmatch.reach import reach_sentence, reach_word
from synthmatch.synths import Synth, open_synth

Matcher: TypeAlias = Callable[[Synth, npt.NDArray[np.float32], int], MatchResult]
"""A method ready to run: (synth, target audio [N], MIDI note) -> its result."""


def run_match(args: argparse.Namespace) -> int:
    """Match ``args.target`` on ``args.synth`` with ``args.method`` in ``args.steps`` steps; print and save it."""
    if args.steps < 1:
        raise ValueError(f"--steps {args.steps} must be at least 1 (agent steps or renders)")
    plot, animate = args.plot, args.animate
    definition = find_definition(args.synth)
    exports = exports_from(args).check(definition)  # a file this synth cannot have is refused before any work
    method = args.method or chosen_method(definition, args.model)
    check_picture_options(method, plot, animate)
    recorder = StepRecorder()
    match = prepare_method(method, definition, args.model, args.steps, args.seed, on_step=recorder)
    audio_out = None if args.audio_out is None else check_audio_out_path(args.audio_out)
    compare_out = None if args.compare_out is None else check_audio_out_path(args.compare_out, "--compare-out")
    heard = load_target(args.target, definition.note.sample_rate, longest_render_samples(definition))
    prepared = prepare_target(definition, heard, args.note_seconds, args.note)
    definition, target, note = prepared.definition, prepared.audio, prepared.note
    synth = open_synth(definition)
    result = match(synth, target, note)
    level = level_of(synth, result.params, prepared)
    if plot is not None or animate is not None:
        features, ceiling_db = heard_with(method, definition, args.model)
        trace = build_trace(synth, target, result, recorder.steps, features=features, ceiling_db=ceiling_db)
        if plot is not None:
            plot_match(trace, plot)
        if animate is not None:
            animate_match(trace, animate)
    if args.out is not None:
        patch = Patch.from_params(
            definition, level.params, distance=result.distance, note=note, method=result.method, target=args.target,
            gain_db=level.gain_db, note_seconds=definition.note.note_seconds,
        )
        write_patch(patch, args.out)
    if audio_out is not None or compare_out is not None:
        matched = render_matched(definition, level.params, note, prepared.length.sounding_seconds, level.gain_db)
        if audio_out is not None:
            write_audio(audio_out, matched, synth.sample_rate)
        if compare_out is not None:
            both = compare_audio(heard[: matched.size], matched, synth.sample_rate)
            write_audio(compare_out, both, synth.sample_rate)
    kept = exports.write(definition, level.params, synth)
    summary = result_summary(definition, result, args.target, level)
    print(json.dumps(summary) if args.json else format_summary(summary, args.out))
    if not args.json:
        for what, path in (("picture", plot), ("animation", animate), ("matched sound", audio_out),
                           ("target then match", compare_out)):
            if path is not None:
                print(f"{what} written to {path}")
        for path in kept:
            print(f"{path.suffix} file written to {path}")
    return 0


def chosen_method(definition: SynthDefinition, model_dir: Path | None) -> str:
    """The method when ``--method`` is not given: the agent if a model fits, else the search, said on stderr."""
    choice = choose_matcher(definition, model_dir)
    if choice.model_dir is None:
        print(f"synthmatch match: {choice.banner()}", file=sys.stderr)
    return choice.method


def prepare_method(
    method: str, definition: SynthDefinition, model_dir: Path | None, budget: int, seed: int,
    on_step: ProgressCallback | None = None,
) -> Matcher:
    """``method`` ready to match: the agent loaded and checked, or the registry's method.

    Done before the synth is opened and the target read, so a wrong method or model is reported at once. The
    agent calls ``on_step`` after every step; the other methods report no steps.
    """
    match_method(method)  # an unknown name: a ValueError with the registry's "did you mean"
    if method == "agent":
        agent = OnnxAgent.load(model_dir or default_model_dir(definition), definition)
        return lambda synth, target, note: match_with_agent(synth, agent, target, note, budget, on_step=on_step,
                                                            seed=seed)
    function = get_method(method)
    rng = np.random.default_rng(seed)
    return lambda synth, target, note: function(synth, target, note, budget, rng, model_dir)


def check_picture_options(method: str, plot: Path | None, animate: Path | None) -> None:
    """Refuse ``--plot``/``--animate`` before the match when they cannot be written (extra, suffix, method)."""
    if plot is None and animate is None:
        return
    require_matplotlib()
    if animate is not None:
        if method != "agent":
            raise ValueError(f"--animate shows the agent's every step; --method {method} leaves only its best "
                             "patch: use --plot for it")
        check_animation_path(animate)


def heard_with(method: str, definition: SynthDefinition, model_dir: Path | None) -> tuple[FeatureSettings, float]:
    """The front end the pictures use: the agent's (from its model's metadata), else the standard settings."""
    if method == "agent":
        metadata = load_metadata(model_dir or default_model_dir(definition))
        return metadata.features, metadata.mel_ceiling_db
    return FeatureSettings(sample_rate=definition.note.sample_rate), MEL_CEILING_DB


def result_summary(
    definition: SynthDefinition, result: MatchResult, target: Path, level: OutputLevel | None = None
) -> dict[str, Any]:
    """The JSON object ``--json`` prints: distances, how close in a word, cost, note and the best patch in units.

    With ``level`` the patch is the one at the target's loudness, and the gain still to apply is told.
    """
    params = result.params if level is None else level.params
    return {
        "target": str(target),
        "synth": definition.name,
        "method": result.method,
        "note": result.note,
        "steps": result.steps,
        "distance_start": result.distance_start,
        "distance": result.distance,
        "reach": reach_word(result.distance),
        "note_seconds": definition.note.note_seconds,
        "level_parameter": None if level is None else level.parameter,
        "gain_db": 0.0 if level is None else level.gain_db,
        "target_loudness_dbfs": None if level is None else level.target_loudness_dbfs,
        "renders": result.renders,
        "seconds": result.seconds,
        "params": denormalise_all(definition, params),
        "params_normalised": [float(x) for x in params],
    }


def format_summary(summary: dict[str, Any], out: Path | None) -> str:
    """A few lines for a person: what was matched, how close it got, how long it took, where the patch went."""
    lines = [
        f"{summary['target']}: {summary['synth']} at MIDI note {summary['note']}, method {summary['method']}",
        f"distance {summary['distance_start']:.3f} -> {summary['distance']:.3f} (mrstft, nepers) in "
        f"{summary['steps']} steps, {summary['renders']} renders, {summary['seconds']:.2f} s",
        reach_sentence(summary["distance"]),
        f"note held {summary['note_seconds']:.2f} s; {level_line(summary)}",
    ]
    width = max(len(name) for name in summary["params"])
    lines += [f"  {name.ljust(width)}  {value:.4g}" for name, value in summary["params"].items()]
    if out is not None:
        lines.append(f"patch written to {out}")
    return "\n".join(lines)


def level_line(summary: dict[str, Any]) -> str:
    """Where the output level went: the level parameter that was set, and the gain still to apply after the synth."""
    where = f"{summary['level_parameter']} set to the target's loudness" if summary["level_parameter"] else \
        "the synth has no output-level parameter"
    return f"{where}; apply {summary['gain_db']:+.1f} dB after the synth to match the target's level"
