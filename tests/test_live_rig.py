"""The live rig: in-process by default; live over real JACK MIDI and audio with ZynAddSubFX and `synthmatch synth`."""

from __future__ import annotations

import time

import numpy as np
import pytest
from live_stack import (  # noqa: F401 (fixtures)
    JackServer,
    Zyn,
    jack,
    live_instrument,
    spectral_centroid_hz,
    zyn_value,
    zynaddsubfx,
)

from synthmatch.agent import OnnxAgent, default_model_dir
from synthmatch.daemon.external_synth import ExternalSynth
from synthmatch.daemon.live_rig import LiveOptions, open_live_rig, render_mode
from synthmatch.daemon.midi_out import TransportError
from synthmatch.definitions import find_definition
from synthmatch.matching import match_with_agent
from synthmatch.synths import SynthUnavailable, open_synth

BUILTIN = find_definition("builtin")
ZYN = find_definition("zynaddsubfx")
#: RMS that tells a note from silence (the dummy driver's capture is exactly 0). Not higher: at cutoff 0 the saw's
#: fundamental (220 Hz) lies above the 100 Hz cutoff, and the darkest note measured about 0.006 RMS.
SOUND_RMS = 1e-4
#: Takes per patch where a test compares spectra: the median of three stands up to one take spoiled by a loaded
#: machine (once in CI, a "short filter envelope" take came out as bright as a slow one).
TAKES = 3


def test_default_rig_renders_in_process_and_sends_nothing() -> None:
    rig = open_live_rig(BUILTIN, LiveOptions())
    try:
        assert rig.sink is None and rig.record is not None
        assert rig.synth.render(np.array(BUILTIN.defaults_normalised())[None]).shape == (1, 16000)
        with pytest.raises(ValueError, match="record seconds"):
            rig.record(0)
    finally:
        rig.close()


def test_render_modes_and_live_needs_a_way_to_play() -> None:
    assert render_mode(ZYN, LiveOptions()) == "live"
    assert render_mode(BUILTIN, LiveOptions()) == "in-process"
    with pytest.raises(SynthUnavailable, match="cannot render in-process"):
        open_live_rig(ZYN, LiveOptions(render="in-process"))
    with pytest.raises(TransportError, match="needs a MIDI port"):
        open_live_rig(BUILTIN, LiveOptions(render="live"))


def _with_cutoff(x: float) -> np.ndarray:
    """BUILTIN's defaults with the cutoff at ``x`` (normalised)."""
    params = np.array(BUILTIN.defaults_normalised())
    params[BUILTIN.parameter_names.index("cutoff_hz")] = x
    return params[None]


def _zyn_patch(**values: float) -> np.ndarray:
    """ZYN's defaults with a short filter envelope (the cutoff back at basefreq within 12 ms), then ``values``."""
    params = np.array(ZYN.defaults_normalised())
    for name, x in {"filter_env_attack_s": 0.0, "filter_env_decay_s": 0.0, **values}.items():
        params[ZYN.parameter_names.index(name)] = x
    return params[None]


def _held(audio: np.ndarray) -> np.ndarray:
    """The held part of a take, 0.1 s after the onset to the note-off (the attack and release left out)."""
    rate = ZYN.note.sample_rate
    return audio[int(0.1 * rate):int(ZYN.note.note_seconds * rate)]


def _power(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz) and power spectrum of ``audio`` (Hann window)."""
    power = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    return np.fft.rfftfreq(len(audio), 1 / ZYN.note.sample_rate), power


def _harmonic_levels(audio: np.ndarray, f0: float, count: int) -> np.ndarray:
    """Amplitude of harmonics 1..count of ``f0`` relative to the fundamental (peak within 3% of each)."""
    freqs, power = _power(audio)
    peaks = [power[np.abs(freqs - k * f0) < 0.03 * f0].max() for k in range(1, count + 1)]
    return np.sqrt(np.array(peaks) / peaks[0])


def _band_share(audio: np.ndarray, low_hz: float, high_hz: float) -> float:
    """Share of the power of ``audio`` between ``low_hz`` and ``high_hz``."""
    freqs, power = _power(audio)
    return float(power[(freqs >= low_hz) & (freqs <= high_hz)].sum() / power.sum())


@pytest.mark.slow
def test_zynaddsubfx_live_renders_move_as_commanded(jack: JackServer, zynaddsubfx: Zyn) -> None:  # noqa: F811
    """The definition's startup turns Zyn's default sine into a saw that its filter acts on: CC 74 (cutoff) and
    CC 71 (Q) over JACK MIDI and the filter envelope over OSC each move the recorded spectrum as commanded."""
    options = LiveOptions(render="live", midi_port="zynaddsubfx:midi_input", midi_api="jack",
                          osc_target=f"127.0.0.1:{zynaddsubfx.osc_port}")
    rig = open_live_rig(ZYN, options)  # sends [startup].osc: voice 0 a saw, the filter envelope a depth
    try:
        voice = "/part0/kit0/adpars/VoicePar0/OscilSmp"
        assert zyn_value(zynaddsubfx, f"{voice}/Pcurrentbasefunc") == 3  # saw
        assert zyn_value(zynaddsubfx, f"{voice}/Pbasefuncpar") == 0
        assert isinstance(rig.synth, ExternalSynth) and rig.synth.sender.routes[:2] == ("midi", "midi")
        jack.feed_input("zynaddsubfx:out_1")
        f0 = 440.0 * 2 ** ((ZYN.note.midi_note - 69) / 12)

        def render(params: np.ndarray) -> np.ndarray:
            audio = rig.synth.render(params)
            assert audio.shape == (1, ZYN.note.render_samples)
            rms = float(np.sqrt(np.mean(audio**2)))
            assert rms > SOUND_RMS, f"ZynAddSubFX made no sound (RMS {rms:.2g})"
            return audio[0]

        def takes(params: np.ndarray) -> list[np.ndarray]:
            """TAKES renders of one patch: a loaded machine can spoil one take (seen once)."""
            return [render(params) for _ in range(TAKES)]

        def centroid(audios: list[np.ndarray]) -> float:
            """Median centroid of the held part of ``audios``, the takes of one patch."""
            return float(np.median([spectral_centroid_hz(_held(a), ZYN.note.sample_rate) for a in audios]))

        cutoffs = {x: takes(_zyn_patch(filter_cutoff_hz=x)) for x in (0.0, 0.5, 1.0)}
        centroids = [centroid(audios) for audios in cutoffs.values()]
        levels = _harmonic_levels(_held(cutoffs[1.0][0]), f0, 8)
        print("zynaddsubfx centroids (Hz) at cutoff 0, 0.5, 1:", [round(c) for c in centroids],
              "harmonics 1..8 at cutoff 1:", np.round(levels, 3).tolist())
        assert centroids[0] < centroids[1] < centroids[2]
        assert centroids[2] > 3 * centroids[0]
        assert np.all(levels[1:] > 0.5 / np.arange(2, 9))  # a saw: harmonic n near 1/n (a sine has none)

        q_low, q_high = (_band_share(_held(render(_zyn_patch(filter_q=x))), 800, 1250) for x in (0.0, 1.0))
        print(f"zynaddsubfx power share within 800..1250 Hz (cutoff 1000 Hz) at Q 0 and 1: {q_low:.3f} {q_high:.3f}")
        assert q_high > 3 * q_low  # resonance lifts the harmonics next to the cutoff

        short = centroids[1]
        swept = centroid(takes(_zyn_patch(filter_env_attack_s=0.5, filter_env_decay_s=0.5)))
        print(f"zynaddsubfx centroid with a short and a slow filter envelope: {short:.0f} {swept:.0f} Hz")
        assert swept > 1.5 * short  # the envelope lifts the cutoff above basefreq while the note is held
        with pytest.raises(ValueError, match="one patch at a time"):
            rig.synth.render(np.repeat(_zyn_patch(), 2, axis=0))
    finally:
        rig.close()


@pytest.mark.slow
def test_synthmatch_synth_follows_ccs_and_the_model_matches_it_live(
    jack: JackServer, live_instrument: str  # noqa: F811
) -> None:
    """The builtin synth played over real JACK MIDI and audio: renders follow CCs, the shipped model matches it."""
    rig = open_live_rig(BUILTIN, LiveOptions(render="live", midi_port=f"{live_instrument}:in", midi_api="jack"))
    try:
        jack.feed_input(f"{live_instrument}-audio:out_0")
        dark, bright = (rig.synth.render(_with_cutoff(x))[0] for x in (0.1, 0.9))
        local = open_synth(BUILTIN)
        print("live centroids (Hz) at cutoff 0.1, 0.9:", round(spectral_centroid_hz(dark, 16000)),
              round(spectral_centroid_hz(bright, 16000)), "in-process:",
              [round(spectral_centroid_hz(local.render(_with_cutoff(x))[0], 16000)) for x in (0.1, 0.9)])
        assert spectral_centroid_hz(bright, 16000) > 3 * spectral_centroid_hz(dark, 16000)

        target_params = np.array(BUILTIN.defaults_normalised())
        for name, x in (("cutoff_hz", 0.35), ("osc1_shape", 1.0), ("amp_decay_s", 0.3), ("amp_sustain", 0.3)):
            target_params[BUILTIN.parameter_names.index(name)] = x
        target = local.render(target_params[None])[0]
        agent = OnnxAgent.load(default_model_dir(BUILTIN), BUILTIN)
        began = time.monotonic()
        live = match_with_agent(rig.synth, agent, target, note=60, steps=6)
        seconds = time.monotonic() - began
        inprocess = match_with_agent(local, agent, target, note=60, steps=6)
        print(f"live match: {live.distance_start:.3f} -> {live.distance:.3f} in {seconds:.1f} s; "
              f"in-process: {inprocess.distance_start:.3f} -> {inprocess.distance:.3f}")
        assert abs(live.distance_start - inprocess.distance_start) < 0.05  # the live path sounds like in-process
        assert live.distance < 0.6 * live.distance_start
    finally:
        rig.close()
