"""The shipped ZynAddSubFX definition: its parameters, transports and startup, and that MIDI and OSC agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import synthmatch
from synthmatch.definitions import SynthDefinition, load_definition
from synthmatch.params import denormalise, from_midi, from_osc, normalise, to_midi, to_osc

DEFINITION = Path(synthmatch.__file__).parent / "synthdefs" / "zynaddsubfx.toml"
GLOBAL = "/part0/kit0/adpars/GlobalPar"
#: Parameter -> (CC, OSC address, Zyn's controller law: value at CC c = reference * factor ** ((c - 64) / 64)).
CONTROLLED = {
    "filter_cutoff_hz": (74, f"{GLOBAL}/GlobalFilter/basefreq", 10.0),  # Controller::setfiltercutoff, depth 64
    "filter_q": (71, f"{GLOBAL}/GlobalFilter/baseq", 30.0),  # Controller::setfilterq, depth 64
}
#: Envelope parameter -> (OSC address, the port's range in `zynaddsubfx -D` of version 3.0.6).
ENVELOPES = {
    "amp_attack_s": (f"{GLOBAL}/AmpEnvelope/A_dt", 0.0, 41.0),
    "amp_decay_s": (f"{GLOBAL}/AmpEnvelope/D_dt", 0.0, 41.0),
    "amp_sustain": (f"{GLOBAL}/AmpEnvelope/PS_val", 0, 127),
    "amp_release_s": (f"{GLOBAL}/AmpEnvelope/R_dt", 0.009, 41.0),
    "filter_env_attack_s": (f"{GLOBAL}/FilterEnvelope/A_dt", 0.0, 41.0),
    "filter_env_decay_s": (f"{GLOBAL}/FilterEnvelope/D_dt", 0.0, 41.0),
}


@pytest.fixture(scope="module")
def zyn() -> SynthDefinition:
    return load_definition(DEFINITION)


def test_zyn_is_an_external_synth_on_jack_and_osc(zyn: SynthDefinition) -> None:
    assert (zyn.name, zyn.kind) == ("zynaddsubfx", "external")
    assert zyn.note.sample_rate == 48000 and zyn.note.render_seconds > zyn.note.note_seconds
    assert (zyn.osc_host, zyn.osc_port) == ("127.0.0.1", 7777)
    command = zyn.extra["startup"]["command"]
    assert command[0] == "zynaddsubfx" and command[command.index("-P") + 1] == str(zyn.osc_port)
    assert command[command.index("-r") + 1] == str(zyn.note.sample_rate)
    startup = [message["address"] for message in zyn.extra["startup"]["osc"]]
    assert startup[0] == "/part0/kit0/adpars/VoicePar0/OscilSmp/Pcurrentbasefunc"  # the default voice, no preset
    assert not any("load" in address for address in startup)


@pytest.mark.parametrize("name", CONTROLLED)
def test_filter_parameters_have_zyns_cc_and_osc_address(zyn: SynthDefinition, name: str) -> None:
    cc, address, _ = CONTROLLED[name]
    param = zyn.parameter(name)
    assert param.midi is not None and (param.midi.cc, param.midi.kind, param.midi.channel) == (cc, "cc7", 1)
    assert param.osc is not None and param.osc.address == address and param.osc.type == "f"


@pytest.mark.parametrize("name", CONTROLLED)
def test_a_cc_and_the_osc_value_mean_the_same_cutoff_and_q(zyn: SynthDefinition, name: str) -> None:
    """Zyn's controllers scale the patch value set by [startup].osc; the range must encode that law."""
    cc, address, factor = CONTROLLED[name]
    param = zyn.parameter(name)
    reference = next(m["args"][0] for m in zyn.extra["startup"]["osc"] if m["address"] == address)
    values = np.arange(128)
    in_units = denormalise(param, from_midi(param, values))
    np.testing.assert_allclose(in_units, reference * factor ** ((values - 64) / 64), rtol=1e-5)
    assert to_midi(param, normalise(param, reference)) == 64  # the controller's reset value
    assert param.default == reference
    # over OSC the same normalised value is sent in units (the parameter's own range)
    np.testing.assert_allclose(to_osc(param, from_midi(param, values)), in_units)


@pytest.mark.parametrize("name", ENVELOPES)
def test_envelope_parameters_send_seconds_or_levels_inside_zyns_ranges(zyn: SynthDefinition, name: str) -> None:
    address, lowest, highest = ENVELOPES[name]
    param = zyn.parameter(name)
    assert param.osc is not None and param.osc.address == address
    sent = to_osc(param, np.linspace(0.0, 1.0, 101))
    assert lowest <= sent.min() and sent.max() <= highest
    assert param.midi is None  # Zyn has no default controller for envelopes
    if name.endswith("_s"):
        assert param.unit == "s" and param.curve == "log"
    else:
        assert param.osc.type == "i" and np.array_equal(sent, np.rint(sent))


@pytest.mark.parametrize("name", [*CONTROLLED, *ENVELOPES])
def test_transports_round_trip(zyn: SynthDefinition, name: str) -> None:
    param = zyn.parameter(name)
    x = np.linspace(0.0, 1.0, 1001)
    if param.midi is not None:
        values = np.arange(128)
        assert np.array_equal(to_midi(param, from_midi(param, values)), values)
        assert np.max(np.abs(from_midi(param, to_midi(param, x)) - x)) <= 0.5 / 127 + 1e-12
    assert param.osc is not None
    step = 0.5 / (param.osc.max - param.osc.min) if param.osc.type == "i" else 1e-9
    assert np.max(np.abs(from_osc(param, to_osc(param, x)) - x)) <= step
