"""Real evaluation sets at users' levels: notes of other synths, held for various lengths, peak-normalised.

``scripts/make-real-targets.sh --sets`` makes three disjoint sets with it (see docs/evaluation.md): General MIDI
notes from the TimGM6mb soundfont (fluidsynth, in the script), random patches of Nekobi (the vst3 synth,
:func:`render_synth_set`) and random parameter settings of ZynAddSubFX's default voice played over OSC and
recorded from JACK (:func:`record_zyn_set`). Every file is then brought to :data:`PEAK_DBFS`
(:func:`normalise_folder`), the level users have their samples at. Never used for training.

Run as ``python -m synthmatch.training.real_sets normalise|synth|zyn ...`` (``--help`` for each).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pedalboard.io import AudioFile

from synthmatch.definitions import find_definition
from synthmatch.matched_audio import write_audio
from synthmatch.note_length import with_note_length
from synthmatch.params import quantise_all, to_osc
from synthmatch.synths import open_synth

PEAK_DBFS = -3.0
"""Peak level of every file of a real set, dB re full scale."""
RENDER_S = 2.0
"""Length of each note's file in seconds, so that a long note's release is heard."""
GATE_S = (0.2, 1.2)
"""Range of the note lengths drawn for the synth sets, in seconds."""
AUDIBLE_DBFS = -50.0
"""A drawn patch whose peak is below this is drawn again (a set holds no silence)."""
ZYN_RATE = 48000
"""JACK's and ZynAddSubFX's sample rate."""


def normalise_folder(folder: Path, peak_dbfs: float = PEAK_DBFS) -> int:
    """Rewrite every WAV in ``folder`` as 16-bit mono with its peak at ``peak_dbfs``; returns how many."""
    count = 0
    for path in sorted(folder.glob("*.wav")):
        with AudioFile(str(path)) as file:
            audio, rate = file.read(file.frames).mean(axis=0), file.samplerate
        peak = float(np.max(np.abs(audio), initial=0.0))
        if peak <= 0.0:
            raise ValueError(f"{path}: silent; render it again or delete it")
        write_audio(path, audio * (10.0 ** (peak_dbfs / 20.0) / peak), int(rate))
        count += 1
    return count


def render_synth_set(synth_name: str, out_dir: Path, count: int, seed: int) -> int:
    """``count`` random patches of an in-process synth at random notes and note lengths, as WAVs in ``out_dir``.

    Files are named ``NAME-III-nNNN-gGGGG.wav`` (index, MIDI note, gate in ms); existing files are kept.
    Returns how many were rendered.
    """
    base = find_definition(synth_name)
    rng = np.random.default_rng(seed)
    rendered = 0
    for index in range(count):
        note = int(rng.integers(base.note.lowest_note, base.note.highest_note + 1))
        gate_s = float(rng.uniform(*GATE_S))
        synth = open_synth(with_note_length(base, gate_s, RENDER_S))
        while True:
            params = quantise_all(base, rng.uniform(size=len(base.parameters)))
            audio = synth.render(params[None], note)[0]
            if 20 * np.log10(max(float(np.max(np.abs(audio))), 1e-12)) >= AUDIBLE_DBFS:
                break
        path = out_dir / f"{synth_name}-{index:03d}-n{note:03d}-g{int(gate_s * 1000):04d}.wav"
        if not path.exists():
            write_audio(path, audio, synth.sample_rate)
            rendered += 1
    return rendered


def record_zyn_set(out_dir: Path, count: int, seed: int, osc_port: int) -> int:
    """``count`` notes of a running ZynAddSubFX (default voice, no preset) with random parameters, recorded from JACK.

    Needs jackd and ``zynaddsubfx -O jack -P osc_port`` running (the script starts both). Each note: the
    definition ``zynaddsubfx``'s parameters set to random values over OSC, plus a random oscillator shape of
    voice 0, then the note held for a random length, recorded with ``jack_rec``. Returns how many were recorded.
    """
    from pythonosc.udp_client import SimpleUDPClient

    definition = find_definition("zynaddsubfx")
    client = SimpleUDPClient("127.0.0.1", osc_port)
    rng = np.random.default_rng(seed)
    recorded = 0
    for index in range(count):
        note = int(rng.integers(definition.note.lowest_note, definition.note.highest_note + 1))
        gate_s = float(rng.uniform(*GATE_S))
        params = quantise_all(definition, rng.uniform(size=len(definition.parameters)))
        shape = int(rng.integers(0, 8))  # sine, triangle, pulse, saw, power, gauss, diode, abs sine
        path = out_dir / f"zyn-{index:03d}-n{note:03d}-g{int(gate_s * 1000):04d}.wav"
        if path.exists():
            continue
        for parameter, x in zip(definition.parameters, params, strict=True):
            if parameter.osc is not None:
                value = float(to_osc(parameter, x))
                client.send_message(parameter.osc.address, int(round(value)) if parameter.osc.type == "i" else value)
        client.send_message("/part0/kit0/adpars/VoicePar0/OscilSmp/Pcurrentbasefunc", shape)
        client.send_message("/part0/kit0/adpars/VoicePar0/OscilSmp/prepare", [])
        time.sleep(0.2)
        with tempfile.TemporaryDirectory() as work:
            raw = Path(work) / "raw.wav"
            recorder = subprocess.Popen(["jack_rec", "-f", str(raw), "-d", f"{RENDER_S + 0.3:.2f}",
                                         "zynaddsubfx:out_1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.15)
            client.send_message("/noteOn", [0, note, 100])
            time.sleep(gate_s)
            client.send_message("/noteOff", [0, note])
            recorder.wait(timeout=RENDER_S + 10)
            with AudioFile(str(raw)) as file:
                audio = file.read(file.frames).mean(axis=0)
        if 20 * np.log10(max(float(np.max(np.abs(audio))), 1e-12)) < AUDIBLE_DBFS:
            continue  # a setting zyn renders silent (a closed filter): left out
        write_audio(path, audio, ZYN_RATE)
        recorded += 1
    return recorded


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the set makers (called by scripts/make-real-targets.sh)."""
    parser = argparse.ArgumentParser(prog="python -m synthmatch.training.real_sets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    normalise = sub.add_parser("normalise", help=f"bring every WAV in DIR to {PEAK_DBFS} dBFS peak")
    normalise.add_argument("folder", type=Path, metavar="DIR")
    synth = sub.add_parser("synth", help="render random patches of an in-process synth")
    synth.add_argument("synth", metavar="NAME")
    zyn = sub.add_parser("zyn", help="record random settings of a running ZynAddSubFX")
    zyn.add_argument("--osc-port", type=int, default=7777, metavar="PORT")
    for maker in (synth, zyn):
        maker.add_argument("folder", type=Path, metavar="DIR")
        maker.add_argument("--count", type=int, default=24, metavar="N")
        maker.add_argument("--seed", type=int, default=12, metavar="S")
    args = parser.parse_args(argv)
    if args.command == "normalise":
        print(f"real_sets: {normalise_folder(args.folder)} files at {PEAK_DBFS} dBFS peak in {args.folder}")
        return 0
    args.folder.mkdir(parents=True, exist_ok=True)
    made = (render_synth_set(args.synth, args.folder, args.count, args.seed) if args.command == "synth"
            else record_zyn_set(args.folder, args.count, args.seed, args.osc_port))
    print(f"real_sets: {made} new files in {args.folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
