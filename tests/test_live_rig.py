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
#: RMS that tells a note from silence (the dummy driver's capture is exactly 0). Not higher: at cutoff 0 the lead's
#: fundamental (220 Hz) lies above the 100 Hz cutoff, and what passes depends on how its two detuned voices beat
#: at the onset, so the darkest note measured 0.00095 to 0.0035 RMS from one note to the next.
SOUND_RMS = 1e-4


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


def _with_cutoff(definition_name: str, x: float) -> np.ndarray:
    definition = find_definition(definition_name)
    params = np.array(definition.defaults_normalised())
    params[0 if definition_name == "zynaddsubfx" else definition.parameter_names.index("cutoff_hz")] = x
    return params[None]


@pytest.mark.slow
def test_zynaddsubfx_live_renders_move_as_commanded(jack: JackServer, zynaddsubfx: Zyn) -> None:  # noqa: F811
    """CC 74 over JACK MIDI reaches ZynAddSubFX: the recorded centroid climbs with the commanded cutoff."""
    options = LiveOptions(render="live", midi_port="zynaddsubfx:midi_input", midi_api="jack",
                          osc_target=f"127.0.0.1:{zynaddsubfx.osc_port}")
    rig = open_live_rig(ZYN, options)  # sends [startup].osc: loads the lead patch
    try:
        assert isinstance(rig.synth, ExternalSynth) and rig.synth.sender.routes[0] == "midi"
        jack.feed_input("zynaddsubfx:out_1")
        centroids = []
        for x in (0.0, 0.5, 1.0):
            audio = rig.synth.render(_with_cutoff("zynaddsubfx", x))
            assert audio.shape == (1, ZYN.note.render_samples)
            rms = float(np.sqrt(np.mean(audio**2)))
            assert rms > SOUND_RMS, f"ZynAddSubFX made no sound at cutoff {x} (RMS {rms:.2g})"
            centroids.append(spectral_centroid_hz(audio[0], ZYN.note.sample_rate))
        print("zynaddsubfx centroids (Hz) at cutoff 0, 0.5, 1:", [round(c) for c in centroids])
        assert centroids[0] < centroids[1] < centroids[2]
        assert centroids[2] > 3 * centroids[0]
        with pytest.raises(ValueError, match="one patch at a time"):
            rig.synth.render(np.repeat(_with_cutoff("zynaddsubfx", 0.5), 2, axis=0))
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
        dark, bright = (rig.synth.render(_with_cutoff("builtin", x))[0] for x in (0.1, 0.9))
        local = open_synth(BUILTIN)
        print("live centroids (Hz) at cutoff 0.1, 0.9:", round(spectral_centroid_hz(dark, 16000)),
              round(spectral_centroid_hz(bright, 16000)), "in-process:",
              [round(spectral_centroid_hz(local.render(_with_cutoff("builtin", x))[0], 16000)) for x in (0.1, 0.9)])
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
