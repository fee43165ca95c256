"""`/synthmatch/patch/save <name> <also>`: a real daemon writes a MIDI file or a .vstpreset beside the patch.

Real processes and real UDP on 127.0.0.1 (tests/daemon_process.py); the files are compared with what the core
writes for the saved JSON patch, and a preset is loaded back into a fresh instance of the real plugin.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from daemon_process import SEND, Daemon

from synthmatch.definitions import find_definition
from synthmatch.matched_audio import write_audio
from synthmatch.params import quantise_all
from synthmatch.patch_exports import midi_file_bytes
from synthmatch.patches import read_patch
from synthmatch.synths.vst3 import Vst3Synth, find_plugin, load_instrument


@pytest.fixture(scope="module")
def patch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home") / "patches"


@pytest.fixture(scope="module")
def daemon(patch_dir: Path, target_wav: Path) -> Iterator[Daemon]:
    """A builtin daemon that has matched ``target_wav`` for 2 steps."""
    daemon = Daemon("--patch-dir", str(patch_dir))
    assert send(daemon.port, "/synthmatch/target/load", str(target_wav), "48").returncode == 0
    assert send(daemon.port, "--timeout", "30", "/synthmatch/match/start", "2", "random").returncode == 0
    yield daemon
    daemon.stop()


def send(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SEND, "--port", str(port), *args], capture_output=True, text=True, timeout=60)


def test_patch_save_also_writes_the_midi_file_of_the_saved_patch(daemon: Daemon, patch_dir: Path) -> None:
    result = send(daemon.port, "/synthmatch/patch/save", "lead", "mid")
    saved, midi = patch_dir / "lead.json", patch_dir / "lead.mid"
    assert result.returncode == 0, result.stdout
    words = result.stdout.split()
    assert words[:2] == ["/synthmatch/patch/saved", str(saved)] and words[3:] == [str(midi)]
    definition = find_definition("builtin")
    assert midi.read_bytes() == midi_file_bytes(definition, read_patch(saved).params(definition))


def test_a_file_the_synth_cannot_have_or_a_bad_name_is_an_error_reply_and_nothing_is_written(
    daemon: Daemon, patch_dir: Path
) -> None:
    for args, message in [
        (("x", "vstpreset"), "builtin is a builtin synth, not a VST3 plugin"),
        (("x", "wav"), "'wav': also write one of vstpreset, mid"),
        (("../x", "mid"), "'../x' is not a patch name"),
    ]:
        result = send(daemon.port, "/synthmatch/patch/save", *args)
        assert result.returncode == 1 and result.stdout.startswith("/synthmatch/error /synthmatch/patch/save ")
        assert message in result.stdout and len(result.stdout.splitlines()) == 1
    assert not (patch_dir / "x.json").exists() and not (patch_dir.parent / "x.mid").exists()
    patch_dir.mkdir(exist_ok=True)
    (patch_dir / "notes.mid").write_text("my notes")
    result = send(daemon.port, "/synthmatch/patch/save", "notes", "mid")
    assert result.returncode == 1 and "notes.mid: exists and is not a .mid file" in result.stdout
    assert f"{patch_dir / 'notes.json'} saved, but not its other files" in result.stdout
    assert (patch_dir / "notes.mid").read_text() == "my notes" and daemon.ping().address == "/synthmatch/pong"
    (patch_dir / "folder.mid").mkdir()
    result = send(daemon.port, "/synthmatch/patch/save", "folder", "mid")
    assert result.returncode == 1 and "folder.mid: is a folder" in result.stdout
    assert daemon.ping().address == "/synthmatch/pong"


@pytest.mark.vst3
def test_a_vst3_daemon_saves_a_preset_that_the_plugin_loads(nekobi_synth: Vst3Synth, tmp_path: Path) -> None:
    definition = nekobi_synth.definition
    target = tmp_path / "bass.wav"
    patch = quantise_all(definition, np.random.default_rng(4).random(len(definition.parameters)))
    write_audio(target, nekobi_synth.render(patch[None], 45)[0], nekobi_synth.sample_rate)
    daemon = Daemon("--synth", "nekobi", "--patch-dir", str(tmp_path / "patches"))
    try:
        assert send(daemon.port, "/synthmatch/target/load", str(target), "45").returncode == 0
        # a VST3 daemon's done comes after the output-level probes (about 11 s of Nekobi renders)
        assert send(daemon.port, "--timeout", "30", "/synthmatch/match/start", "2", "random").returncode == 0
        refused = send(daemon.port, "/synthmatch/patch/save", "bass", "mid")
        assert refused.returncode == 1 and "nekobi has no parameter with a MIDI transport" in refused.stdout
        result = send(daemon.port, "/synthmatch/patch/save", "bass", "vstpreset")
        assert result.returncode == 0 and result.stdout.split()[3:] == [str(tmp_path / "patches" / "bass.vstpreset")]
    finally:
        status, _, stderr = daemon.stop()
    assert status == 0 and "Traceback" not in stderr
    saved = read_patch(tmp_path / "patches" / "bass.json").params(definition)
    plugin = load_instrument(find_plugin(definition))
    plugin.load_preset(str(tmp_path / "patches" / "bass.vstpreset"))
    for binding, raw in zip(nekobi_synth._bindings, nekobi_synth.raw_values(saved)[0], strict=True):
        if binding.units is not None:  # continuous; the waveform is compared by ear in test_vst3_preset.py
            assert plugin._parameters[binding.index].raw_value == pytest.approx(raw, abs=1e-4)
