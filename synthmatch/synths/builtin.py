"""The built-in subtractive synth: numpy only, batched, deterministic, at least 1000x real time per core.

Signal path of one note (every stage is vectorised over rows and samples; no Python loop per sample):

    two wavetable oscillators (shape morph, osc 2 detuned) + white noise
    -> four-pole resonant ladder low-pass, cutoff moved by key tracking, filter envelope and LFO
    -> amplitude ADSR x volume x velocity -> soft clip above 0.5 (so no patch can leave [-1, 1])

The LFO (a sine restarted on every note) moves the pitch and the cutoff, each by its own depth. The filter
envelope has its own attack, decay and sustain and shares the amplitude envelope's release. The noise is
the same fixed-seed sequence on every call, so the same parameters always give the same audio. How each
stage avoids per-sample Python loops is told in :mod:`.oscillators`, :mod:`.filters` and :mod:`.envelopes`.
The parameters, their ranges and their MIDI controllers are in ``synthdefs/builtin.toml``. Level is kept
meaningful (nothing is normalised): a full-scale oscillator at 0 dB volume and velocity 127 peaks near 1.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from synthmatch.definitions import SynthDefinition
from synthmatch.params import denormalise
from synthmatch.synths import DefinitionSynth, MidiValues, check_notes, check_params
from synthmatch.synths.envelopes import adsr
from synthmatch.synths.filters import (
    CUTOFF_CEILING_HZ,
    CUTOFF_FLOOR_HZ,
    LadderFilter,
    frame_centres_s,
    frame_length_for,
    frame_spectra,
    overlap_add,
)
from synthmatch.synths.oscillators import phase_cycles, play_wavetables, sine_lfo, wavetables

Units = dict[str, npt.NDArray[np.float64]]

#: Every parameter the synth needs, with the widest range (in its units) that the DSP accepts.
LIMITS: dict[str, tuple[float, float]] = {
    "osc1_shape": (0.0, 3.0),
    "osc2_shape": (0.0, 3.0),
    "osc2_detune_semitones": (-48.0, 48.0),
    "osc_mix": (0.0, 1.0),
    "noise_level": (0.0, 1.0),
    "cutoff_hz": (CUTOFF_FLOOR_HZ, CUTOFF_CEILING_HZ),
    "resonance": (0.0, 1.0),
    "filter_env_octaves": (-10.0, 10.0),
    "key_tracking": (0.0, 2.0),
    "filter_attack_s": (1e-4, 60.0),
    "filter_decay_s": (1e-4, 60.0),
    "filter_sustain": (0.0, 1.0),
    "amp_attack_s": (1e-4, 60.0),
    "amp_decay_s": (1e-4, 60.0),
    "amp_sustain": (0.0, 1.0),
    "amp_release_s": (1e-4, 60.0),
    "lfo_rate_hz": (0.01, 200.0),
    "lfo_pitch_semitones": (0.0, 24.0),
    "lfo_cutoff_octaves": (0.0, 10.0),
    "volume_db": (-120.0, 12.0),
}
#: Rows x samples rendered at once: 8 rows of 1 s at 16 kHz keep the working arrays in a 2 MB L2 cache,
#: which makes a batch of 64 about a quarter faster than rendering it whole.
SAMPLES_PER_CHUNK = 8 * 16000
#: Level above which the output is bent towards +-1, so that no patch can leave [-1, 1].
SOFT_CLIP_KNEE = 0.5
#: Seed of the white noise; fixed so that renders are reproducible.
NOISE_SEED = 0
#: The note at which key tracking leaves the cutoff where ``cutoff_hz`` puts it (middle C).
KEY_TRACKING_CENTRE_NOTE = 60


class BuiltinSynth(DefinitionSynth):
    """The built-in subtractive synth behind the :class:`~synthmatch.synths.Synth` interface.

    Built from a ``kind = "builtin"`` definition that names every parameter in :data:`LIMITS`, in any order;
    ``sample_rate`` overrides the definition's (for playing live at 48 kHz, say) and the render keeps its
    length in seconds.
    """

    def __init__(self, definition: SynthDefinition, sample_rate: int | None = None) -> None:
        _check_definition(definition)
        rate = definition.note.sample_rate if sample_rate is None else sample_rate
        if isinstance(rate, bool) or not isinstance(rate, int) or not 8000 <= rate <= 192000:
            raise ValueError(f"{definition.name}: sample_rate {rate!r} must be an integer number of Hz in "
                             "8000..192000; pass e.g. 16000 or 48000, or None for the definition's")
        self.definition = definition
        self._sample_rate = rate
        self._samples = int(round(definition.note.render_seconds * rate))
        self._times_s = (np.arange(self._samples) / rate).astype(np.float32)
        self._frame_length = frame_length_for(rate)
        self._frame_times_s = frame_centres_s(self._samples, self._frame_length, rate)
        self._filter = LadderFilter(self._frame_length, rate)
        self._noise = np.random.default_rng(NOISE_SEED).uniform(-1, 1, self._samples).astype(np.float32)

    @property
    def sample_rate(self) -> int:
        """Sample rate of the rendered audio in Hz."""
        return self._sample_rate

    def render(
        self, params: npt.NDArray[np.floating], note: MidiValues | None = None, velocity: MidiValues | None = None
    ) -> npt.NDArray[np.float32]:
        """Render one note per row of ``params[B, P]`` (normalised [0, 1]) -> ``audio[B, N]`` float32 in [-1, 1].

        The note (MIDI number; one for all rows or one per row, default the definition's) is held for
        ``note_seconds`` and then released; ``velocity`` (1..127, likewise) scales the level by
        (velocity / 127)^2. Rows are rendered a few at a time so that every working array stays in the CPU
        cache; no row depends on another.
        """
        x = check_params(self.definition, params)
        notes, velocities = check_notes(self.definition, note, velocity, len(x))
        units = {p.name: denormalise(p, x[:, i]) for i, p in enumerate(self.definition.parameters)}
        audio = np.empty((len(x), self._samples), dtype=np.float32)
        rows = max(1, SAMPLES_PER_CHUNK // self._samples)
        for start in range(0, len(x), rows):
            chunk = slice(start, start + rows)
            chunk_units = {name: values[chunk] for name, values in units.items()}
            audio[chunk] = self._render_units(chunk_units, notes[chunk], velocities[chunk])
        return audio

    def _render_units(
        self, units: Units, notes: npt.NDArray[np.int64], velocities: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        """The whole signal path for units ``{name: [B]}`` at ``notes[B]``, ``velocities[B]``: audio[B, N] float32."""
        source = self._oscillators(units, notes)
        source += units["noise_level"][:, None].astype(np.float32) * self._noise
        spectra = frame_spectra(source, self._frame_length)
        spectra *= self._filter.response(self._cutoff_hz(units, notes), units["resonance"])
        audio = overlap_add(spectra, self._samples)
        gain = 10 ** (units["volume_db"] / 20) * (velocities / 127) ** 2
        audio *= self._envelope(units, "amp", self._times_s)
        audio *= gain[:, None]
        return soft_clip(audio)

    def _oscillators(self, units: Units, notes: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Both oscillators, mixed: [B, N]. The pitch LFO bends both; tables are band-limited for its peak."""
        osc1_hz = 440.0 * 2 ** ((notes - 69) / 12)
        osc2_ratio = 2 ** (units["osc2_detune_semitones"] / 12)
        widest_bend = 2 ** (units["lfo_pitch_semitones"] / 12)
        mix = units["osc_mix"][:, None].astype(np.float32)
        tables1 = wavetables(units["osc1_shape"], osc1_hz * widest_bend, self._sample_rate) * (1 - mix)
        tables2 = wavetables(units["osc2_shape"], osc1_hz * osc2_ratio * widest_bend, self._sample_rate) * mix
        frequency_hz = sine_lfo(units["lfo_rate_hz"], self._times_s)
        frequency_hz *= (units["lfo_pitch_semitones"] / 12)[:, None]
        np.exp2(frequency_hz, out=frequency_hz)
        frequency_hz *= osc1_hz.astype(np.float32)[:, None]
        phase = phase_cycles(frequency_hz, self._sample_rate)
        audio = play_wavetables(tables1, phase)
        audio += play_wavetables(tables2, phase, osc2_ratio)
        return audio

    def _cutoff_hz(self, units: Units, notes: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Cutoff at each frame centre: [B, frames] in Hz, after key tracking, filter envelope and LFO."""
        tracking = units["key_tracking"] * (notes - KEY_TRACKING_CENTRE_NOTE) / 12
        envelope = units["filter_env_octaves"][:, None] * self._envelope(units, "filter", self._frame_times_s)
        lfo = units["lfo_cutoff_octaves"][:, None] * sine_lfo(units["lfo_rate_hz"], self._frame_times_s)
        return units["cutoff_hz"][:, None] * np.exp2(tracking[:, None] + envelope + lfo)

    def _envelope(self, units: Units, prefix: str, times_s: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The ``amp`` or ``filter`` ADSR on ``times_s[T]``: [B, T]; both release with ``amp_release_s``."""
        return adsr(times_s, units[f"{prefix}_attack_s"], units[f"{prefix}_decay_s"], units[f"{prefix}_sustain"],
                    units["amp_release_s"], self.definition.note.note_seconds)


def soft_clip(audio: npt.NDArray[np.float32], knee: float = SOFT_CLIP_KNEE) -> npt.NDArray[np.float32]:
    """Bend audio[B, N] above ``knee`` smoothly towards +-1 (a tanh knee), in place; leave the rest untouched.

    Only peaks above the knee are distorted, so ordinary levels get no added harmonics, which would alias.
    """
    magnitude = np.abs(audio)
    over = magnitude > knee
    headroom = 1 - knee
    audio[over] = np.sign(audio[over]) * (knee + headroom * np.tanh((magnitude[over] - knee) / headroom))
    return audio


def _check_definition(definition: SynthDefinition) -> None:
    """A ValueError naming the file and the fix unless ``definition`` is a usable builtin definition."""
    where = definition.source or definition.name
    if definition.kind != "builtin":
        raise ValueError(f"{where}: kind is {definition.kind!r}; BuiltinSynth renders only kind = 'builtin' "
                         "definitions (open_synth picks the right backend for the others)")
    names = set(definition.parameter_names)
    missing, unknown = sorted(set(LIMITS) - names), sorted(names - set(LIMITS))
    if missing or unknown:
        raise ValueError(f"{where}: the builtin synth needs exactly the parameters {', '.join(LIMITS)}; "
                         f"missing: {', '.join(missing) or 'none'}; unknown: {', '.join(unknown) or 'none'}. "
                         "Copy them from synthmatch/synthdefs/builtin.toml")
    for p in definition.parameters:
        lo, hi = LIMITS[p.name]
        if p.min < lo or p.max > hi:
            raise ValueError(f"{where}: parameter {p.name} has range {p.min:g}..{p.max:g} {p.unit}, but the "
                             f"builtin synth accepts only {lo:g}..{hi:g}; narrow min and max to fit")
