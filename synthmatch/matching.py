"""The match loop: the agent turns a synth's knobs, step by step, towards a target sound, and the best patch is kept.

Each agent step is exactly a step of the training environment: render the current patch, listen (the clipped
log-mel of :func:`synthmatch.features.observe_mel`), ask the agent for a step and move the patch by the one step
rule (:func:`synthmatch.match_rules.move`). A start bank may come first and a polish last (:mod:`synthmatch.polish`),
one render a step too. The best patch is kept by the one rule for it
(:class:`synthmatch.match_rules.BestSoFar`). The distance is the primary one (:mod:`synthmatch.distances`,
"mrstft"). Every method in the registry (:mod:`synthmatch.match_methods`) answers with the same
:class:`MatchResult`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from synthmatch.agent import Mel, OnnxAgent
from synthmatch.distances import LogSpectra, log_spectra, log_spectra_distance
from synthmatch.loudness import equal_loudness
from synthmatch.match_rules import BestSoFar, move
from synthmatch.params import quantise_all
from synthmatch.polish import Polish, polish_steps
from synthmatch.synths import Synth

Params = npt.NDArray[np.float64]


@dataclass
class MatchResult:
    """The outcome of matching one target with one method."""

    params: Params
    """The best patch found [P], normalised [0, 1] and quantised."""
    distance_start: float
    """Primary distance of the start patch to the target, in nepers."""
    distance: float
    """Primary distance of the best patch to the target, in nepers (never above ``distance_start``)."""
    renders: int
    """Notes rendered, the start patch's included."""
    seconds: float
    """Wall time of the whole match, rendering included."""
    steps: int
    """Agent steps taken (for search methods: renders after the start)."""
    note: int
    """MIDI note the synth played."""
    method: str
    """Name of the method: "agent", "random", "cmaes", "oneshot", "agent+refine"."""
    history: list[float] = field(default_factory=list)
    """Primary distance after each step, in order: ``len(history) == steps``."""


#: Who chooses a match's patches: the start bank, the agent, its relay, the polish (in the order they play), or a
#: search method (:mod:`synthmatch.watched_search`, every method but the plain agent).
Phase = Literal["bank", "agent", "relay", "polish", "search"]

#: Steps in a row without a closer patch after which a policy's turn ends in a match with a polish: the agent
#: hands over to its relay (to the polish, without one), the relay to the polish. A policy circles around a patch
#: of its own after 10 to 16 steps, and the polish closes in better from there (docs/evaluation.md, "Stall rule").
STALL_STEPS = 16


@dataclass(frozen=True)
class MatchProgress:
    """Where a running match stands after one step, for progress replies."""

    step: int
    """Steps taken so far, 1..steps."""
    params: Params
    """The patch just rendered [P], normalised and quantised."""
    distance: float
    """Its primary distance to the target, in nepers."""
    best_distance: float
    """The smallest distance so far, the start's included."""
    improved: bool
    """Whether this step's patch is the new best (strictly closer than every patch before it)."""
    mel: Mel
    """What the agent heard of the patch's sound: log-mel dB [n_mels, frames] (views show it)."""
    phase: Phase
    """Who chose the patch (pictures shade the phases, so a reader sees why a curve jumps)."""
    distance_start: float = math.nan
    """Distance of the start patch, nepers (views show where the match began); NaN where not measured."""


ProgressCallback = Callable[[MatchProgress], None]

#: Std of the variations :func:`search_step` tries around the agent's step, in action units (1 = one max_step).
SEARCH_NOISE = 0.5


def check_target_audio(synth: Synth, target_audio: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """``target_audio`` as float32 [N], N the synth's render length; a ValueError says how to prepare it."""
    audio = np.asarray(target_audio, dtype=np.float32)
    samples = synth.definition.note.render_samples
    if audio.shape != (samples,) or not np.all(np.isfinite(audio)):
        raise ValueError(
            f"target audio must be finite mono float32 of shape ({samples},), {synth.definition.name}'s render "
            f"length at {synth.sample_rate} Hz; got shape {audio.shape}. Load files with "
            "synthmatch.audio_files.load_target(path, sample_rate, samples)"
        )
    return audio


def start_patch(synth: Synth, start_params: npt.ArrayLike | None) -> Params:
    """The quantised start patch [P]: ``start_params`` (normalised) or the definition's defaults."""
    definition = synth.definition
    start = np.asarray(
        definition.defaults_normalised() if start_params is None else start_params, dtype=np.float64
    )
    if start.shape != (len(definition.parameters),) or not np.all((start >= 0.0) & (start <= 1.0)):
        raise ValueError(
            f"start_params must be {len(definition.parameters)} normalised values in [0, 1], one per parameter "
            f"of {definition.name}; got shape {start.shape}"
        )
    return quantise_all(definition, start)


def match_with_agent(
    synth: Synth,
    agent: OnnxAgent,
    target_audio: npt.ArrayLike,
    note: int,
    steps: int,
    start_params: npt.ArrayLike | None = None,
    on_step: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    candidates: int = 1,
    seed: int = 0,
    bank: bool = True,
    polish: bool = True,
) -> MatchResult:
    """Let ``agent`` match ``target_audio[N]`` on ``synth`` in ``steps`` steps (``steps * candidates + 1`` renders).

    Starts from ``start_params`` [P] (normalised) or the definition's defaults; calls ``on_step`` after every
    step. ``should_stop`` is asked before every step; when it answers True the match ends early and the result
    counts only the steps taken. With ``candidates`` K > 1 every step searches (:func:`search_step`, seeded by
    ``seed``): K renders a step in one batch, so the synth must render batches in-process. When the agent has a
    start bank (:mod:`synthmatch.start_bank`) that fits the steps, K is 1 and ``bank`` is True, its patches are
    rendered first, one step each, after the one-shot regressor's guess for the target where the folder has one
    and the guess fits too (:meth:`~synthmatch.agent.OnnxAgent.start_patches`), and the agent goes on from the
    closest patch so far. When the agent has a relay
    (:attr:`~synthmatch.agent.OnnxAgent.relay`), it takes the last half of the agent's steps (sooner when the agent
    stalls), from the best patch so far. With K 1 and ``polish`` True the last quarter of the steps polish the best
    patch (:mod:`synthmatch.polish`, seeded by ``seed``), and more of them when a policy stalls
    (:data:`STALL_STEPS`). Returns the best patch seen, the start included.
    """
    began = time.perf_counter()
    if agent.parameter_count != len(synth.parameters):
        raise ValueError(
            f"the agent moves {agent.parameter_count} parameters, {synth.definition.name} has "
            f"{len(synth.parameters)}; load the agent with OnnxAgent.load(model_dir, synth.definition)"
        )
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1 (1: the agent's step alone), got {candidates}")
    rng = np.random.default_rng(seed)
    target = equal_loudness(check_target_audio(synth, target_audio)[None])  # each sound brought there once
    target_mel = agent.observe(target, at_equal_loudness=True)
    target_spectra = log_spectra(target, at_equal_loudness=True)
    params = start_patch(synth, start_params)
    audio, distances = listen(synth, params[None], note, target_spectra)
    current_mel = agent.observe(audio, at_equal_loudness=True)
    distance_start = float(distances[0])
    best, best_mel = BestSoFar.start(params, distance_start), current_mel
    history: list[float] = []

    def heard(patch: Params, mel: Mel, distance: float, phase: Phase) -> bool:
        """Count one step's render (chosen by ``phase``): history, best patch (and its mel, for a relay), progress.

        Returns whether the step's patch is the closest so far.
        """
        nonlocal best, best_mel
        history.append(distance)
        best, improved = best.update(patch, distance)
        if improved:
            best_mel = mel
        if on_step is not None:
            on_step(MatchProgress(step=len(history), params=patch, distance=distance,
                                  best_distance=float(best.distance), improved=bool(improved), mel=mel[0],
                                  distance_start=distance_start, phase=phase))
        return bool(improved)

    starts = agent.start_patches(target_mel, steps) if bank and candidates == 1 else None
    for patch in quantise_all(synth.definition, starts) if starts is not None else ():  # one step each
        if should_stop is not None and should_stop():
            break
        audio, distances = listen(synth, patch[None], note, target_spectra)
        heard(patch, agent.observe(audio, at_equal_loudness=True), float(distances[0]), "bank")
    params, current_mel = best.params, best_mel  # on from the closest patch heard (without a bank: the start)
    acting, relay = agent, agent.relay
    polished = polish and candidates == 1
    agent_end = steps - (polish_steps(steps) if polished else 0)
    handover = agent_end - (agent_end - len(history)) // 2  # the relay plays the last half of the agent's steps
    stalled = 0  # the acting policy's steps in a row without a closer patch
    for _ in range(len(history), agent_end):
        if should_stop is not None and should_stop():
            break
        turn_over = polished and stalled >= STALL_STEPS
        if acting is agent and relay is not None and (len(history) >= handover or turn_over):
            acting, params, current_mel, stalled = relay, best.params, best_mel, 0  # from the best, as heard then
        elif turn_over:
            break  # the polish plays the rest
        action = acting.act(target_mel, current_mel, params[None])[0].astype(np.float64)  # as the env
        params, audio, distance = search_step(synth, params, action, acting.max_step, note, target_spectra,
                                              candidates, rng)
        current_mel = acting.observe(audio, at_equal_loudness=True)
        closer = heard(params, current_mel, distance, "agent" if acting is agent else "relay")
        stalled = 0 if closer else stalled + 1
    search = Polish(synth.definition)
    for _ in range(len(history), steps):  # the polish: small random steps around the best patch
        if should_stop is not None and should_stop():
            break
        patch = search.propose(best.params, rng)
        audio, distances = listen(synth, patch[None], note, target_spectra)
        search.adapt(bool(distances[0] < best.distance))
        heard(patch, agent.observe(audio, at_equal_loudness=True), float(distances[0]), "polish")  # mel: views
    return MatchResult(
        params=best.params, distance_start=distance_start, distance=float(best.distance),
        renders=len(history) * candidates + 1, seconds=time.perf_counter() - began, steps=len(history), note=note,
        method="agent" if candidates == 1 else "agent+search", history=history,
    )


def search_step(
    synth: Synth, params: Params, action: Params, max_step: float, note: int, target_spectra: LogSpectra,
    candidates: int, rng: np.random.Generator,
) -> tuple[Params, npt.NDArray[np.float32], float]:
    """Apply the best of ``candidates`` steps: the agent's ``action`` [P] and K - 1 variations of it.

    A variation adds N(0, :data:`SEARCH_NOISE`) to every parameter's step. Each candidate moves the patch by the
    step rule (:func:`~synthmatch.match_rules.move`), all are rendered in one batch and the one closest to the
    target is kept. With one candidate this is exactly the environment's step. Returns the new patch [P], its
    audio [1, N] at equal loudness (:func:`synthmatch.loudness.equal_loudness`) and distance. Why: the policy's
    step is a good direction but not the best one (docs/training.md has the figures).
    """
    steps = np.repeat(action[None], candidates, axis=0)
    steps[1:] += SEARCH_NOISE * rng.standard_normal(steps[1:].shape)
    patches = move(synth.definition, params, steps, max_step)
    audio, distances = listen(synth, patches, note, target_spectra)
    best = int(np.argmin(distances))
    return patches[best], audio[best:best + 1], float(distances[best])


def listen(
    synth: Synth, patches: Params, note: int, target_spectra: LogSpectra
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]:
    """Render ``patches[B, P]`` in one call -> their audio [B, N] at equal loudness and primary distances [B] to the
    target (its spectra at equal loudness, batch 1): how the loop hears every patch it plays."""
    audio = equal_loudness(synth.render(patches, note))
    return audio, log_spectra_distance(target_spectra, log_spectra(audio, at_equal_loudness=True))
