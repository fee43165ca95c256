"""`synthmatch dataset` through the rig: ZynAddSubFX played over JACK MIDI and OSC and recorded over JACK audio (a
private JACK server on the dummy driver), and a run that stops with a clear error, keeping its shards, when the synth
stops sounding part way (its audio connection removed)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from live_stack import JackServer, Zyn, jack, zynaddsubfx  # noqa: F401 (fixtures)

from synthmatch.datasets import open_dataset, patches_for, shard_path
from synthmatch.definitions import find_definition, load_definition

pytestmark = pytest.mark.slow
COMMAND = [sys.executable, "-m", "synthmatch", "dataset"]


@pytest.fixture(scope="module")
def zyn_toml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped ZynAddSubFX definition without its bank preset: Zyn's factory banks are reserved for an
    independent check, so the data set is recorded on Zyn's own default part."""
    shipped = find_definition("zynaddsubfx")
    assert shipped.source is not None
    lines = [line for line in shipped.source.read_text().splitlines() if "/load-part" not in line]
    path = tmp_path_factory.mktemp("zyn") / "zynaddsubfx.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def rig_command(zyn: Zyn, toml: Path, folder: Path, patches: int, *extra: str) -> list[str]:
    """`synthmatch dataset` recording ``patches`` patches of Zyn in shards of 2 through the rig."""
    return [*COMMAND, "--synth", str(toml), "--patches", str(patches), "--shard-size", "2", "--seed", "1",
            "--out", str(folder), "--midi-port", "zynaddsubfx:midi_input", "--midi-api", "jack",
            "--osc-target", f"127.0.0.1:{zyn.osc_port}", "--audio-device", "zynaddsubfx", *extra]


def test_a_rig_data_set_records_the_seeds_patches(
    jack: JackServer, zynaddsubfx: Zyn, zyn_toml: Path, tmp_path: Path  # noqa: F811
) -> None:
    folder = tmp_path / "d"
    result = subprocess.run(rig_command(zynaddsubfx, zyn_toml, folder, 4), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    definition = load_definition(zyn_toml)
    dataset = open_dataset(folder, definition)
    assert dataset.complete and dataset.manifest.source == "rig"
    params, notes, audio, index = dataset.load_all()
    assert len(index) >= 3, f"most of Zyn's takes sound: {result.stderr}"
    expected_params, expected_notes = patches_for(1, index, definition)
    np.testing.assert_array_equal(params, expected_params)
    np.testing.assert_array_equal(notes, expected_notes)
    assert audio.shape == (len(index), dataset.manifest.samples)
    assert np.all(np.sqrt(np.mean(audio**2, axis=1)) > 1e-3)  # each kept take is a recorded sound


def test_a_synth_that_stops_sounding_stops_the_run_and_keeps_the_shards(
    jack: JackServer, zynaddsubfx: Zyn, zyn_toml: Path, tmp_path: Path  # noqa: F811
) -> None:
    folder = tmp_path / "d"
    process = subprocess.Popen(rig_command(zynaddsubfx, zyn_toml, folder, 40, "--silent-limit", "3"),
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not shard_path(folder, 1).exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert shard_path(folder, 1).exists(), "two shards are recorded before the cable is pulled"
        for out in ("zynaddsubfx:out_1", "zynaddsubfx:out_2"):  # pull the cable: Zyn plays on, nothing arrives
            for port in jack.connections(out):
                subprocess.run(["jack_disconnect", out, port], check=True, timeout=10)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1
    errors = [line for line in stderr.splitlines() if line.startswith("synthmatch dataset: error:")]
    assert len(errors) == 1 and "zynaddsubfx stopped sounding: the last 3 takes" in errors[0], stderr
    assert "run the same command again to resume" in errors[0]
    dataset = open_dataset(folder, load_definition(zyn_toml))
    kept = dataset.shard_numbers()
    assert {0, 1} <= set(kept) and not dataset.complete
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["shards_written"] == len(kept) and not summary["complete"]
    dataset.load_all()  # every shard kept is whole
