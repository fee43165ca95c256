"""Round trips between normalised values, units and transport integers (7-bit, 14-bit, NRPN, log, steps)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthmatch.definitions import MidiTransport, OscTransport, Parameter, parse_definition
from synthmatch.params import (
    denormalise,
    from_midi,
    from_osc,
    normalise,
    normalise_all,
    quantise,
    to_midi,
    to_osc,
)

unit = st.floats(0.0, 1.0, allow_nan=False)

LINEAR = Parameter("level", 0.0, 10.0, 5.0)
LOG = Parameter("cutoff_hz", 20.0, 20000.0, 1000.0, curve="log", unit="Hz")
STEPS = Parameter("wave", 0.0, 3.0, 0.0, curve="steps", labels=("sine", "triangle", "saw", "square"))
CC7 = Parameter("cutoff", 0.0, 1.0, 0.5, midi=MidiTransport(channel=1, cc=74))
CC14 = Parameter("cutoff14", 0.0, 1.0, 0.5, midi=MidiTransport(channel=1, cc=16, cc_lsb=48, max=16383))
NRPN = Parameter("nrpn_param", -64.0, 63.0, 0.0, midi=MidiTransport(channel=3, nrpn=1234, min=0, max=127))
NRPN14 = Parameter("nrpn14", 0.0, 1.0, 0.0, midi=MidiTransport(channel=1, nrpn=300, min=0, max=16383))


@given(unit)
@pytest.mark.parametrize("param", [LINEAR, LOG])
def test_continuous_units_round_trip(param: Parameter, x: float) -> None:
    value = denormalise(param, x)
    assert param.min <= value <= param.max
    assert normalise(param, value) == pytest.approx(x, abs=1e-9)


@given(st.floats(20.0, 20000.0))
def test_log_curve_is_geometric(hz: float) -> None:
    # Equal normalised steps are equal ratios: the midpoint of 20..20000 Hz is their geometric mean.
    assert denormalise(LOG, 0.5) == pytest.approx(np.sqrt(20.0 * 20000.0))
    assert denormalise(LOG, normalise(LOG, hz)) == pytest.approx(hz, rel=1e-9)


@given(unit)
def test_steps_snap_to_a_label(x: float) -> None:
    value = float(denormalise(STEPS, x))
    assert value in (0.0, 1.0, 2.0, 3.0)
    assert denormalise(STEPS, normalise(STEPS, value)) == value
    assert quantise(STEPS, quantise(STEPS, x)) == quantise(STEPS, x)


@given(st.integers(0, 127))
def test_cc7_integers_round_trip(value: int) -> None:
    assert to_midi(CC7, from_midi(CC7, value)) == value


@given(st.integers(0, 16383))
@pytest.mark.parametrize("param", [CC14, NRPN14])
def test_14_bit_integers_round_trip(param: Parameter, value: int) -> None:
    assert to_midi(param, from_midi(param, value)) == value


@given(unit)
@pytest.mark.parametrize("param,resolution", [(CC7, 127), (CC14, 16383), (NRPN, 127), (NRPN14, 16383)])
def test_quantise_error_is_half_a_step(param: Parameter, resolution: int, x: float) -> None:
    q = float(quantise(param, x))
    assert abs(q - x) <= 0.5 / resolution + 1e-12
    assert quantise(param, q) == pytest.approx(q, abs=1e-15)


def test_14_bit_is_finer_than_7_bit() -> None:
    xs = np.linspace(0, 1, 100_001)
    assert len(np.unique(quantise(CC14, xs))) > 8 * len(np.unique(quantise(CC7, xs)))


def test_midi_value_range_subset_and_clipping() -> None:
    param = Parameter("p", 0.0, 1.0, 0.0, midi=MidiTransport(channel=1, cc=20, min=10, max=20))
    assert to_midi(param, np.array([0.0, 0.5, 1.0, 2.0, -1.0])).tolist() == [10, 15, 20, 20, 10]
    assert from_midi(param, np.array([0, 10, 20, 127])).tolist() == [0.0, 0.0, 1.0, 1.0]


def test_stepped_midi_uses_explicit_values() -> None:
    param = Parameter(
        "wave", 0.0, 2.0, 0.0, curve="steps", labels=("a", "b", "c"),
        midi=MidiTransport(channel=1, cc=30, values=(0, 43, 86)),
    )
    assert to_midi(param, np.array([0.0, 0.5, 1.0])).tolist() == [0, 43, 86]
    assert from_midi(param, np.array([40, 90])).tolist() == [0.5, 1.0]


@given(unit)
def test_osc_range_in_units_follows_the_curve(x: float) -> None:
    param = Parameter("cutoff_hz", 20.0, 20000.0, 1000.0, curve="log", osc=OscTransport("/cutoff", 20.0, 20000.0))
    assert to_osc(param, x) == pytest.approx(denormalise(param, x))
    assert from_osc(param, to_osc(param, x)) == pytest.approx(x, abs=1e-9)


@given(unit)
def test_osc_other_range_is_linear_and_int_rounds(x: float) -> None:
    param = Parameter("res", 0.0, 1.0, 0.0, osc=OscTransport("/res", 0.0, 127.0, type="i"))
    sent = float(to_osc(param, x))
    assert sent == round(sent) and 0 <= sent <= 127
    assert abs(float(from_osc(param, sent)) - x) <= 0.5 / 127 + 1e-12


def test_missing_transport_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="'level' has no MIDI transport"):
        to_midi(LINEAR, 0.5)
    with pytest.raises(ValueError, match="'level' has no OSC address"):
        to_osc(LINEAR, 0.5)


def test_normalise_all_fills_defaults_and_rejects_unknown_names() -> None:
    definition = parse_definition({"name": "t", "kind": "builtin", "parameters": [
        {"name": "a", "min": 0, "max": 10, "default": 5}, {"name": "b", "min": 0, "max": 1, "default": 1}]})
    assert normalise_all(definition, {"a": 0}).tolist() == [0.0, 1.0]
    with pytest.raises(KeyError, match="no parameter"):
        normalise_all(definition, {"c": 1})


def test_params_does_not_import_definitions_at_run_time() -> None:
    """The maps need only the definition's types, so definitions -> params is the one direction (no cycle)."""
    code = "import sys, synthmatch.params; print('synthmatch.definitions' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
