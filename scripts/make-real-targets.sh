#!/usr/bin/env bash
# Render real-instrument targets for `synthmatch eval --targets DIR`: single notes of 12 General MIDI instruments
# at 4 pitches each (48 mono WAVs, 44.1 kHz, 16-bit, 1.5 s), played by fluidsynth from the recorded-sample
# TimGM6mb soundfont (Debian package timgm6mb-soundfont; installed with apt-get when missing).
#
# Usage: scripts/make-real-targets.sh [OUT_DIR]                (default: bench/targets/real/)
#        scripts/make-real-targets.sh --training [OUT_DIR]     (default: bench/targets/train-real/)
#        scripts/make-real-targets.sh --sets [OUT_DIR]         (default: bench/targets/real-sets/)
#
# --training renders the recordings RL may train on (`[rl] recordings` in a training config) instead: 24 other GM
# instruments (none of the 12 above) at 6 pitches each (144 WAVs), from another soundfont, FluidR3_GM (Debian
# package fluid-soundfont-gm), so that the evaluation's real set shares neither an instrument nor a sample with it.
#
# --sets renders the real evaluation sets at users' levels (default bench/targets/real-sets/), three disjoint
# sets, 112 notes, every file peak-normalised to -3 dBFS (synthmatch.training.real_sets; docs/evaluation.md):
#   gm/      the 12 evaluation instruments above from TimGM6mb, 4 pitches each, held 0.3 / 0.6 / 1.0 / 1.4 s
#            (by pitch), 2 s long (48 notes);
#   nekobi/  32 random patches of Nekobi (synthmatch's vst3 synth; scripts/build-nekobi.sh), random notes in its
#            range, held 0.2 .. 1.2 s, 2 s long, 44.1 kHz;
#   zyn/     32 random parameter settings of ZynAddSubFX's default voice (no preset: its factory banks are
#            reserved for an independent check, like the MuseScore General soundfont, and used for nothing here),
#            played over OSC on a private JACK server (dummy driver) and recorded with jack_rec, 48 kHz.
# None of them is a training source (training recordings: FluidR3_GM; RL targets: the built-in synth).
#
# Idempotent: a file that exists is kept, a missing one is rendered; the same soundfont and fluidsynth give the
# same bytes (checked with sha256sum over two runs). Every note: program change, note-on at velocity 100, note-off
# after 0.6 s, 1.5 s in all so the release is heard; reverb and chorus off, so the dry sample is the target.
# Each note is one small MIDI file (written by the Python below, standard library only) rendered with
#   fluidsynth -q -n -i -R 0 -C 0 -g 0.5 -r 44100 -T wav -O s16 -F STEREO.wav TimGM6mb.sf2 NOTE.mid
# and then mixed to mono (the mean of the two channels). See docs/evaluation.md.
set -euo pipefail
cd "$(dirname "$0")/.."

GATES_MS="600"
LENGTH_MS=1500
if [ "${1:-}" = --training ]; then
    shift
    OUT_DIR="${1:-bench/targets/train-real}"
    SOUNDFONT=/usr/share/sounds/sf2/FluidR3_GM.sf2
    PACKAGE=fluid-soundfont-gm
    SET=training
elif [ "${1:-}" = --sets ]; then
    shift
    SETS_DIR="${1:-bench/targets/real-sets}"
    OUT_DIR="$SETS_DIR/gm"
    SOUNDFONT=/usr/share/sounds/sf2/TimGM6mb.sf2
    PACKAGE=timgm6mb-soundfont
    SET=sets
    GATES_MS="300 600 1000 1400"
    LENGTH_MS=2000
else
    OUT_DIR="${1:-bench/targets/real}"
    SOUNDFONT=/usr/share/sounds/sf2/TimGM6mb.sf2
    PACKAGE=timgm6mb-soundfont
    SET=evaluation
fi
PYTHON=.venv/bin/python
[ -x "$PYTHON" ] || PYTHON=python3

if [ ! -f "$SOUNDFONT" ]; then
    echo "make-real-targets: $SOUNDFONT missing; installing $PACKAGE" >&2
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y "$PACKAGE" >&2
    else sudo apt-get install -y "$PACKAGE" >&2; fi
fi
command -v fluidsynth >/dev/null || { echo "make-real-targets: fluidsynth missing: apt-get install fluidsynth" >&2; exit 1; }

mkdir -p "$OUT_DIR"
printf '*\n' > "$OUT_DIR/.gitignore"  # rendered data, never committed
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# GM program (0-based), short name, MIDI notes inside the instrument's range and the synths' 36..84.
EVALUATION_INSTRUMENTS="
0 piano 48 60 72 84
11 vibraphone 55 65 72 79
16 organ 48 60 72 84
24 guitar 43 52 59 67
33 bass 36 40 45 52
48 strings 48 55 67 79
56 trumpet 55 62 69 76
61 brass 48 55 62 70
71 clarinet 50 57 64 71
73 flute 62 69 76 84
81 sawlead 48 60 72 84
89 pad 48 55 62 70
"
TRAINING_INSTRUMENTS="
4 epiano 45 52 60 67 74 81
6 harpsichord 41 48 55 62 69 76
8 celesta 60 64 67 72 76 79
13 xylophone 65 69 72 76 79 84
19 churchorgan 36 43 50 57 64 71
21 accordion 48 53 58 63 68 73
26 jazzguitar 40 47 54 61 68 75
29 overdrive 40 47 54 61 68 75
32 acousticbass 36 38 41 43 46 48
38 synthbass 36 39 42 45 48 51
40 violin 55 60 65 70 75 80
42 cello 36 41 46 51 56 61
46 harp 36 45 54 63 72 81
52 choir 48 53 58 63 68 73
57 trombone 40 45 50 55 60 65
60 horn 41 46 51 56 61 66
64 sopranosax 56 61 66 71 76 81
68 oboe 58 63 68 73 78 83
70 bassoon 36 41 46 51 56 61
74 recorder 60 65 70 75 80 84
80 squarelead 36 46 56 66 76 84
87 basslead 36 42 48 54 60 66
90 polysynth 42 50 58 66 74 82
95 sweeppad 40 48 56 64 72 80
"
if [ "$SET" = training ]; then
    INSTRUMENTS=$TRAINING_INSTRUMENTS
else
    INSTRUMENTS=$EVALUATION_INSTRUMENTS
fi

rendered=0
kept=0
while read -r program name notes; do
    [ -n "$program" ] || continue
    gates=($GATES_MS)
    index=0
    for note in $notes; do
        gate_ms=${gates[$((index % ${#gates[@]}))]}
        index=$((index + 1))
        file="$(printf '%s/%03d-%s-n%03d.wav' "$OUT_DIR" "$program" "$name" "$note")"
        if [ -f "$file" ]; then kept=$((kept + 1)); continue; fi
        "$PYTHON" - "$program" "$note" "$WORK/note.mid" "$gate_ms" "$LENGTH_MS" <<'PY'
"""Write a one-note Standard MIDI File: program change, note-on at 0 s, note-off after GATE ms, end at LENGTH ms."""
import struct
import sys

program, note, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
gate_ms, length_ms = int(sys.argv[4]), int(sys.argv[5])
TICKS_PER_QUARTER = 480  # at the default tempo of 120 bpm: 960 ticks per second


def delta(ticks: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [ticks & 0x7F]
    ticks >>= 7
    while ticks:
        out.append(0x80 | (ticks & 0x7F))
        ticks >>= 7
    return bytes(reversed(out))


events = (
    delta(0) + bytes([0xC0, program])
    + delta(0) + bytes([0x90, note, 100])
    + delta(gate_ms * 96 // 100) + bytes([0x80, note, 0])
    + delta((length_ms - gate_ms) * 96 // 100) + bytes([0xFF, 0x2F, 0x00])
)
with open(path, "wb") as midi:
    midi.write(b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER))
    midi.write(b"MTrk" + struct.pack(">I", len(events)) + events)
PY
        fluidsynth -q -n -i -R 0 -C 0 -g 0.5 -r 44100 -T wav -O s16 -F "$WORK/stereo.wav" "$SOUNDFONT" \
            "$WORK/note.mid" >/dev/null
        "$PYTHON" - "$WORK/stereo.wav" "$WORK/mono.wav" <<'PY'
"""Mix a 16-bit stereo WAV to mono: each frame is the mean of its two channels, rounded towards minus infinity."""
import array
import sys
import wave

with wave.open(sys.argv[1], "rb") as stereo:
    assert stereo.getnchannels() == 2 and stereo.getsampwidth() == 2, "fluidsynth wrote an unexpected format"
    rate, frames = stereo.getframerate(), array.array("h", stereo.readframes(stereo.getnframes()))
if sys.byteorder == "big":
    frames.byteswap()
mono = array.array("h", ((frames[i] + frames[i + 1]) >> 1 for i in range(0, len(frames), 2)))
if sys.byteorder == "big":
    mono.byteswap()
with wave.open(sys.argv[2], "wb") as out:
    out.setnchannels(1)
    out.setsampwidth(2)
    out.setframerate(rate)
    out.writeframes(mono.tobytes())
PY
        mv "$WORK/mono.wav" "$file"
        rendered=$((rendered + 1))
    done
done <<< "$INSTRUMENTS"
echo "make-real-targets: $rendered rendered, $kept already there, in $OUT_DIR" >&2

[ "$SET" = sets ] || exit 0
# The other two sets, then every file of the three at -3 dBFS peak.
"$PYTHON" -m synthmatch.training.real_sets synth nekobi "$SETS_DIR/nekobi" --count 32 --seed 12 >&2
for tool in jackd jack_wait jack_rec zynaddsubfx; do
    command -v "$tool" >/dev/null || { echo "make-real-targets: $tool missing: apt-get install --no-install-recommends jackd2 zynaddsubfx" >&2; exit 1; }
done
export JACK_DEFAULT_SERVER="synthmatch-real-sets-$$"  # a private JACK server: nobody else's is touched
ZYN_OSC_PORT=17777
jackd -d dummy -r 48000 -p 256 >"$WORK/jackd.log" 2>&1 &
JACKD_PID=$!
ZYN_PID=
trap '[ -z "$ZYN_PID" ] || kill "$ZYN_PID"; kill "$JACKD_PID"; wait; rm -rf "$WORK"' EXIT
jack_wait -w -t 10 >/dev/null
zynaddsubfx -U -O jack -I jack -P "$ZYN_OSC_PORT" -r 48000 >"$WORK/zyn.log" 2>&1 &
ZYN_PID=$!
for _ in $(seq 50); do jack_lsp 2>/dev/null | grep -q zynaddsubfx:out_1 && break; sleep 0.2; done
sleep 1  # zyn answers OSC a moment after its ports appear
"$PYTHON" -m synthmatch.training.real_sets zyn "$SETS_DIR/zyn" --count 32 --seed 12 --osc-port "$ZYN_OSC_PORT" >&2
for folder in gm nekobi zyn; do
    printf '*\n' > "$SETS_DIR/$folder/.gitignore"
    "$PYTHON" -m synthmatch.training.real_sets normalise "$SETS_DIR/$folder" >&2
done
