"""The matching task as a Gymnasium environment: turn a synth's knobs until it sounds like a target.

:class:`MatchTask` holds the rules (spaces, how an episode is drawn, how an action moves the patch, the reward)
and works on an :class:`~synthmatch.training.episodes.EpisodeBatch` of any size, so the single environment here
(a batch of one) and the batched one in :mod:`synthmatch.training.vector_environment` cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias, TypedDict, Unpack

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from synthmatch.definitions import SynthDefinition
from synthmatch.distances import LogSpectra, log_spectra, log_spectra_distance
from synthmatch.features import MEL_CEILING_DB, FeatureSettings, observe_mel
from synthmatch.match_rules import BestSoFar, move
from synthmatch.params import quantise_all
from synthmatch.reach import SUCCESS_DISTANCE
from synthmatch.synths import Synth, open_synth
from synthmatch.training.augment import AugmentConfig, augment
from synthmatch.training.episodes import Episode, EpisodeBatch, Observation, Params

SynthLike: TypeAlias = str | Path | SynthDefinition | Synth

#: Largest change of one normalised parameter in one step (an action of +-1).
DEFAULT_MAX_STEP = 0.1
#: Distance (nepers) below which a match counts as found, from :func:`calibrate_success_threshold` on the built-in
#: synth (its figures: docs/training.md, "The environment's constants").
DEFAULT_SUCCESS_THRESHOLD = SUCCESS_DISTANCE  # 0.16, defined in the core so that the daemon's view draws it too
#: Reward added on the step that reaches the success threshold.
DEFAULT_SUCCESS_BONUS = 1.0
#: Peak level in dBFS below which a randomly drawn target counts as inaudible and is drawn again: the near-silent
#: patches that many random starts are already within the success threshold of.
AUDIBLE_PEAK_DB = -40.0
#: Most draws of a random target (until it is audible) and of a random start (until it is not yet a match) in one
#: episode; the last draw is kept.
MAX_DRAWS = 10
#: Keys that ``reset(options=...)`` understands.
RESET_OPTIONS = ("note", "start", "start_params", "target_params", "target_audio")


def resolve_synth(synth: SynthLike) -> Synth:
    """The synth to render with: a :class:`Synth` is used as it is (a loaded plugin is reused), anything else opened."""
    if isinstance(synth, str | Path | SynthDefinition):
        return open_synth(synth)
    if isinstance(synth, Synth):
        return synth
    raise TypeError(
        f"synth must be a definition name, a path to a definition TOML, a SynthDefinition or a Synth, "
        f"got {type(synth).__name__}; try synth='builtin'"
    )


class TaskOptions(TypedDict, total=False):
    """The keywords :class:`~synthmatch.training.environment.MatchTask` takes after the synth; omitted: its defaults."""

    max_step: float
    """Largest change of a normalised parameter per step (action +-1)."""
    success_threshold: float
    """Distance (nepers) below which a match counts as found."""
    success_bonus: float
    """Reward added on the step that finds a match."""
    features: FeatureSettings | None
    """The observer's front end; None: the default at the synth's sample rate."""
    augment: AugmentConfig | None
    """How random-patch targets are augmented (level, gate, room, codec, ...); None: never."""


class MatchTask:
    """The rules both environments share: spaces, the episode draw, the step rule and the reward.

    Arguments are checked here, once, with errors that name the argument, the bad value and the valid range.
    """

    def __init__(
        self,
        synth: SynthLike = "builtin",
        max_step: float = DEFAULT_MAX_STEP,
        success_threshold: float = DEFAULT_SUCCESS_THRESHOLD,
        success_bonus: float = DEFAULT_SUCCESS_BONUS,
        features: FeatureSettings | None = None,
        augment: AugmentConfig | None = None,
    ) -> None:
        self.synth = resolve_synth(synth)
        self.definition: SynthDefinition = self.synth.definition
        if not 0.0 < max_step <= 1.0:
            raise ValueError(f"max_step {max_step} is outside (0, 1]: it is a fraction of each parameter's range")
        if not success_threshold > 0.0:
            raise ValueError(f"success_threshold {success_threshold} must be > 0 (default {DEFAULT_SUCCESS_THRESHOLD})")
        if not success_bonus >= 0.0:
            raise ValueError(f"success_bonus {success_bonus} must be >= 0 (default {DEFAULT_SUCCESS_BONUS})")
        rate_hz = self.synth.sample_rate
        features = features or FeatureSettings(sample_rate=rate_hz)
        if features.sample_rate != rate_hz:
            raise ValueError(
                f"features.sample_rate is {features.sample_rate} Hz but {self.definition.name} renders at "
                f"{rate_hz} Hz; pass FeatureSettings(sample_rate={rate_hz}, ...) or leave features out"
            )
        self.max_step = float(max_step)
        self.success_threshold = float(success_threshold)
        self.success_bonus = float(success_bonus)
        self.features = features
        self.augment = augment
        self.render_samples = int(round(self.definition.note.render_seconds * rate_hz))
        count = len(self.definition.parameters)
        mel_shape = (features.n_mels, features.frames(self.render_samples))
        mel = spaces.Box(features.floor_db, MEL_CEILING_DB, mel_shape, np.float32)
        self.observation_space = spaces.Dict(
            {"target": mel, "current": mel, "params": spaces.Box(0.0, 1.0, (count,), np.float32)}
        )
        self.action_space = spaces.Box(-1.0, 1.0, (count,), np.float32)

    def draw_episode(self, rng: np.random.Generator, options: Mapping[str, Any] | None = None) -> Episode:
        """One episode: a uniform note and target patch and a uniform (or default) start, unless ``options`` say."""
        options = dict(options or {})
        unknown = set(options) - set(RESET_OPTIONS)
        if unknown:
            raise ValueError(f"unknown reset option(s) {', '.join(sorted(unknown))}; known: {', '.join(RESET_OPTIONS)}")
        for a, b in (("target_params", "target_audio"), ("start", "start_params")):
            if a in options and b in options:
                raise ValueError(f"reset options {a!r} and {b!r} exclude each other; give one")
        settings = self.definition.note
        target_audio = None
        if "target_audio" in options:
            target_audio = self._check_audio(options["target_audio"])
            note = self._check_note(options.get("note", settings.midi_note))
        elif "note" in options:
            note = self._check_note(options["note"])
        else:
            note = int(rng.integers(settings.lowest_note, settings.highest_note + 1))
        target = None
        if "target_params" in options:
            target = self._check_params("target_params", options["target_params"])
        elif target_audio is None:
            target = self.random_patch(rng)
        start_mode = options.get("start", "random")
        if "start_params" in options:
            start = self._check_params("start_params", options["start_params"])
        elif start_mode == "default":
            start = quantise_all(self.definition, np.array(self.definition.defaults_normalised()))
        elif start_mode == "random":
            start = self.random_patch(rng)
        else:
            raise ValueError(f"reset option start={start_mode!r} is not 'random' or 'default'")
        random_target = "target_params" not in options and target_audio is None
        random_start = "start_params" not in options and start_mode == "random"
        return Episode(note=note, start_params=start, target_params=target, target_audio=target_audio,
                       random_target=random_target, random_start=random_start)

    def random_patch(self, rng: np.random.Generator) -> Params:
        """A patch [P] uniform in [0, 1] and quantised."""
        return quantise_all(self.definition, rng.random(len(self.definition.parameters)))

    def start(
        self, rngs: Sequence[np.random.Generator], options: Mapping[str, Any] | None = None
    ) -> EpisodeBatch:
        """Draw one episode from each generator (:meth:`draw_episode`) and :meth:`begin` them all, in one batch."""
        return self.begin([self.draw_episode(rng, options) for rng in rngs], rngs)

    def begin(
        self, episodes: Sequence[Episode], rngs: Sequence[np.random.Generator] | None = None
    ) -> EpisodeBatch:
        """Render the episodes' start patches and target patches in one batch and start tracking them.

        With ``rngs`` (the generator that drew each episode), episodes not worth playing are drawn again from
        their own generator, so that a batch draws exactly what its episodes would draw one by one: a random
        target that peaks below :data:`AUDIBLE_PEAK_DB`, then a random start already within
        ``success_threshold`` of its target, each up to :data:`MAX_DRAWS` draws in all (the last one is kept).
        Only the rows drawn again are rendered again. Given targets and starts are never drawn again.
        """
        count = len(episodes)
        notes = np.array([e.note for e in episodes], dtype=np.int64)
        starts = np.stack([e.start_params for e in episodes])
        target_params = np.full_like(starts, np.nan)
        targets = np.empty((count, self.render_samples), np.float32)
        for i, episode in enumerate(episodes):
            if episode.target_params is None:
                targets[i] = episode.target_audio
            else:
                target_params[i] = episode.target_params
        known = ~np.isnan(target_params[:, 0])
        audio = self.render(np.concatenate([starts, target_params[known]]), np.concatenate([notes, notes[known]]))
        targets[known] = audio[count:]
        current = audio[:count]
        if rngs is not None:
            drawn = np.flatnonzero([e.random_target for e in episodes])
            self._redraw_inaudible(drawn, rngs, notes, target_params, targets)
            self._augment(drawn, rngs, targets)
        target_spectra = log_spectra(targets)
        distance = log_spectra_distance(target_spectra, log_spectra(current))
        if rngs is not None:
            drawn = np.flatnonzero([e.random_start for e in episodes])
            self._redraw_solved(drawn, rngs, notes, starts, current, target_spectra, distance)
        return EpisodeBatch(
            notes=notes, params=starts, target_params=target_params, target_mel_db=self.mel_db(targets),
            target_spectra=target_spectra, current_mel_db=self.mel_db(current), distance=distance,
            best=BestSoFar.start(starts, distance), is_success=distance < self.success_threshold,
        )

    def _redraw_inaudible(
        self, rows: npt.NDArray[np.intp], rngs: Sequence[np.random.Generator], notes: npt.NDArray[np.int64],
        target_params: Params, targets: npt.NDArray[np.float32],
    ) -> None:
        """Draw the targets at ``rows`` again, in place, while they peak below AUDIBLE_PEAK_DB (MAX_DRAWS in all)."""
        quietest = 10 ** (AUDIBLE_PEAK_DB / 20)
        for _ in range(MAX_DRAWS - 1):
            rows = rows[np.abs(targets[rows]).max(axis=1, initial=0.0) < quietest]
            if rows.size == 0:
                return
            target_params[rows] = np.stack([self.random_patch(rngs[i]) for i in rows])
            targets[rows] = self.render(target_params[rows], notes[rows])

    def _augment(
        self, rows: npt.NDArray[np.intp], rngs: Sequence[np.random.Generator], targets: npt.NDArray[np.float32]
    ) -> None:
        """Replace a share of the drawn targets at ``rows``, in place, by augmented versions drawn from their rngs.

        The patch stays the target's oracle: the agent learns to reach it from the sound as users would bring it.
        """
        if self.augment is None or self.augment.share == 0.0:
            return
        for i in rows:
            if rngs[i].random() < self.augment.share:
                targets[i] = augment(targets[i], self.synth.sample_rate, rngs[i], self.augment)

    def _redraw_solved(
        self, rows: npt.NDArray[np.intp], rngs: Sequence[np.random.Generator], notes: npt.NDArray[np.int64],
        starts: Params, current: npt.NDArray[np.float32], target_spectra: LogSpectra,
        distance: npt.NDArray[np.float64],
    ) -> None:
        """Draw the starts at ``rows`` again, in place, while within success_threshold of the target (MAX_DRAWS)."""
        for _ in range(MAX_DRAWS - 1):
            rows = rows[distance[rows] < self.success_threshold]
            if rows.size == 0:
                return
            starts[rows] = np.stack([self.random_patch(rngs[i]) for i in rows])
            current[rows] = self.render(starts[rows], notes[rows])
            targets = tuple(spectra[rows] for spectra in target_spectra)
            distance[rows] = log_spectra_distance(targets, log_spectra(current[rows]))

    def advance(self, batch: EpisodeBatch, actions: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Apply checked ``actions[B, P]`` to ``batch`` in place and return each episode's reward [B].

        reward = distance before - distance after, plus ``success_bonus`` where the new distance is below
        ``success_threshold``.
        """
        batch.params = self.moved(batch.params, actions)
        batch.current_mel_db, spectra = self.listen(self.render(batch.params, batch.notes))
        distance = log_spectra_distance(batch.target_spectra, spectra)
        reward = batch.distance - distance
        batch.distance = distance
        batch.best, _ = batch.best.update(batch.params, distance)
        batch.is_success = distance < self.success_threshold
        return reward + self.success_bonus * batch.is_success

    def moved(self, params: Params, actions: npt.NDArray[np.float64]) -> Params:
        """``params[..., P]`` moved by ``actions`` (broadcast) with this task's ``max_step``: the core's step rule,
        :func:`synthmatch.match_rules.move`, which the match loop uses too."""
        return move(self.definition, params, actions, self.max_step)

    def check_actions(self, actions: npt.ArrayLike, shape: tuple[int, ...]) -> npt.NDArray[np.float64]:
        """``actions`` as float64 of ``shape``, clipped to [-1, 1]; a ValueError for a wrong shape or NaN."""
        array = np.asarray(actions, dtype=np.float64)
        if array.shape != shape:
            raise ValueError(
                f"action has shape {array.shape}, expected {shape}: one value in [-1, 1] per parameter of "
                f"{self.definition.name} ({', '.join(self.definition.parameter_names)})"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"action contains NaN or infinity: {array}")
        return np.clip(array, -1.0, 1.0)

    def render(self, params: Params, notes: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Audio [B, N] of each row of ``params[B, P]`` played at its own note ``notes[B]``, in one synth call."""
        return self.synth.render(params, notes)

    def listen(self, audio: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], LogSpectra]:
        """What the agent and the reward hear of ``audio[B, N]``: :meth:`mel_db` and the log spectra."""
        return self.mel_db(audio), log_spectra(audio)

    def mel_db(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Log-mel of ``audio[B, N]`` in dB [B, n_mels, frames], clipped to the observation space's bounds."""
        return observe_mel(audio, self.features, MEL_CEILING_DB)

    def _check_note(self, note: Any) -> int:
        if isinstance(note, bool) or not isinstance(note, int | np.integer) or not 0 <= note <= 127:
            raise ValueError(f"reset option note={note!r} must be a MIDI note number, an int in 0..127")
        return int(note)

    def _check_params(self, name: str, values: npt.ArrayLike) -> Params:
        array = np.asarray(values, dtype=np.float64)
        count = len(self.definition.parameters)
        if array.shape != (count,):
            raise ValueError(
                f"reset option {name} has shape {array.shape}, expected ({count},): one normalised value per "
                f"parameter of {self.definition.name} ({', '.join(self.definition.parameter_names)})"
            )
        if not np.all((array >= 0.0) & (array <= 1.0)):
            raise ValueError(f"reset option {name} must lie in [0, 1] (normalised), got {array}")
        return quantise_all(self.definition, array)

    def _check_audio(self, audio: npt.ArrayLike) -> npt.NDArray[np.float32]:
        array = np.asarray(audio, dtype=np.float32)
        if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)):
            raise ValueError(
                f"reset option target_audio must be mono audio, a finite 1-D array of samples at "
                f"{self.synth.sample_rate} Hz; got shape {array.shape}"
            )
        fitted = np.zeros(self.render_samples, np.float32)
        fitted[: min(array.size, self.render_samples)] = array[: self.render_samples]
        return fitted


def calibrate_success_threshold(
    synth: SynthLike = "builtin", param_mae: float = 0.02, pairs: int = 512, seed: int = 0
) -> float:
    """The median distance between random patches and copies with every parameter moved by +-``param_mae``.

    This is how DEFAULT_SUCCESS_THRESHOLD was chosen: a match counts as found when it sounds as close as a
    patch within ``param_mae`` (normalised, per parameter) of the target typically does. Patches are uniform
    and quantised, notes uniform in the definition's range; run it again for another synth or distance.
    """
    task = MatchTask(synth)
    rng = np.random.default_rng(seed)
    settings, count = task.definition.note, len(task.definition.parameters)
    notes = rng.integers(settings.lowest_note, settings.highest_note + 1, pairs)
    patches = quantise_all(task.definition, rng.random((pairs, count)))
    moved = np.clip(patches + param_mae * rng.choice([-1.0, 1.0], (pairs, count)), 0.0, 1.0)
    _, target_spectra = task.listen(task.render(patches, notes))
    _, moved_spectra = task.listen(task.render(quantise_all(task.definition, moved), notes))
    return float(np.median(log_spectra_distance(target_spectra, moved_spectra)))


class SynthMatchEnv(gym.Env[dict[str, Any], npt.NDArray[np.float32]]):
    """Match a synth to a target sound by turning its knobs, a little at each step.

    ``gymnasium.make("synthmatch/SynthMatch-v1", synth="builtin")`` after ``import synthmatch``, which registers
    the id (:mod:`synthmatch.environment_registration`).
    ``synth`` is a definition name, a path to a definition TOML, a ``SynthDefinition``, or a ``Synth`` (a loaded
    VST3 is reused). For fast training use :class:`~synthmatch.training.vector_environment.SynthMatchVectorEnv`.

    **Action space**: ``Box(-1, 1, (P,), float32)``, P = number of parameters. Each parameter moves by
    ``max_step * action`` in normalised [0, 1] space; the new patch is clipped to [0, 1] and quantised to what
    the synth really receives (7-bit / 14-bit MIDI, steps, integer OSC).

    **Observation space**: ``Dict``, all float32:

    ========== ===================== ====================================================================
    key        shape                 meaning
    ========== ===================== ====================================================================
    target     (n_mels, frames)      log-mel of the target sound in dB, in [floor_db, MEL_CEILING_DB]
    current    (n_mels, frames)      log-mel of the current patch's sound, same settings
    params     (P,)                  current patch, normalised [0, 1], quantised
    ========== ===================== ====================================================================

    Log-mels come from :func:`synthmatch.features.observe_mel` with ``FeatureSettings(sample_rate=synth rate)``
    (64 mels x 63 frames for one second at 16 kHz), the same front end the daemon uses.

    **Reward**: ``d_prev - d_new + success_bonus * [d_new < success_threshold]``, with d the primary distance
    :func:`synthmatch.distances.log_spectra_distance` between the current and the target sound. The sum over
    an episode is the distance gained plus the bonus, so the agent is paid for progress, not for time.

    ``success_threshold`` (default :data:`DEFAULT_SUCCESS_THRESHOLD`, 0.16) was calibrated on the built-in synth with
    :func:`calibrate_success_threshold`: the median distance between random quantised patches and copies of
    them with every parameter moved by +-0.02 (parameter MAE 0.02). Recalibrate for another synth.

    **Start state**: a note uniform in the definition's ``lowest_note..highest_note``, a target patch uniform in
    [0, 1] and quantised, a start patch uniform and quantised (or the definition's defaults). Episodes not worth
    playing are drawn again: a random target that peaks below ``AUDIBLE_PEAK_DB`` (-40 dBFS) gets a new random
    patch, then a random start already within ``success_threshold`` of the target gets a new random patch, each
    up to ``MAX_DRAWS`` (10) draws, the last one kept (how often that happens: docs/training.md). The note,
    and targets and starts given in ``options``, are never drawn again. ``reset(options=)`` may give ``note``;
    ``target_params`` [P] or ``target_audio`` (a mono float32 recording at the synth's rate, cut or zero-padded
    to ``render_seconds``; its patch is unknown, so ``info["target_params"]`` is None and the note defaults to
    the definition's ``midi_note``); ``start_params`` [P] or ``start`` = "random" | "default".

    **Episode end**: terminated when ``d_new < success_threshold``; truncated after ``max_episode_steps`` (32)
    steps by the TimeLimit wrapper that registration adds.

    **Info** (reset and step): ``distance``, ``best_distance`` (smallest this episode), ``is_success``,
    ``target_params`` (copy of the target patch [P], or None), ``note``.

    **Version history**: v0: first version. v1: the reward and the observation at equal loudness
    (:mod:`synthmatch.loudness`), success below 0.16 Np; targets may be augmented (``augment``).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, synth: SynthLike = "builtin", **task: Unpack[TaskOptions]) -> None:
        self.task = MatchTask(synth, **task)
        self.observation_space = self.task.observation_space
        self.action_space = self.task.action_space
        self._batch: EpisodeBatch | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start an episode: draw (or take from ``options``) the note, the target and the start patch."""
        super().reset(seed=seed)
        self._batch = self.task.start([self.np_random], options)
        return first_episode(self._batch)

    def step(
        self, action: npt.NDArray[np.float32]
    ) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """Move every parameter by ``max_step * action``, render, and pay the decrease of the distance."""
        if self._batch is None:
            raise RuntimeError("call reset() before step()")
        actions = self.task.check_actions(action, self.action_space.shape or ())[None]
        reward = self.task.advance(self._batch, actions)
        observation, info = first_episode(self._batch)
        return observation, float(reward[0]), info["is_success"], False, info


def first_episode(batch: EpisodeBatch) -> tuple[Observation, dict[str, Any]]:
    """The observation and info of the batch's first episode, unbatched: Python scalars, None for no patch."""
    observation = {key: value[0] for key, value in batch.observations().items()}
    info = batch.infos()
    return observation, {
        "distance": float(info["distance"][0]),
        "best_distance": float(info["best_distance"][0]),
        "is_success": bool(info["is_success"][0]),
        "target_params": info["target_params"][0] if info["_target_params"][0] else None,
        "note": int(info["note"][0]),
    }
