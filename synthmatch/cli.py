"""The `synthmatch` command: one console script, one small function per subcommand."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import get_args

from synthmatch import __version__
from synthmatch.daemon.config import add_daemon_arguments
from synthmatch.daemon.live_rig import MidiApi
from synthmatch.dataset_command import add_dataset_command
from synthmatch.definitions import DefinitionError, iter_definition_files, load_definition
from synthmatch.match_methods import DEFAULT_EVAL_METHODS, METHOD_NAMES
from synthmatch.model_choice import SEARCH_WITHOUT_MODEL, choose_matcher
from synthmatch.patch_command import add_patch_command
from synthmatch.patch_exports import add_export_arguments
from synthmatch.synths import SynthUnavailable

Command = Callable[[argparse.Namespace], int]


def cmd_synths(args: argparse.Namespace) -> int:
    """List every synth definition on the search path: name, kind, parameter count, model, file."""
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    for path in iter_definition_files():
        row: dict[str, object] = {"name": path.stem, "path": str(path), "shadowed": path.stem in seen}
        seen.add(path.stem)
        try:
            definition = load_definition(path)
        except DefinitionError as err:
            row.update(kind="invalid", parameters=0, model=None, matches_by=None, error=str(err))
        else:
            choice = choose_matcher(definition)
            row.update(name=definition.name, kind=definition.kind, parameters=len(definition.parameters),
                       model=None if choice.model_dir is None else str(choice.model_dir), matches_by=choice.method,
                       **({"no_model": choice.reason} if choice.model_dir is None else {}))
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max([len(str(r["name"])) for r in rows] + [4])
    print(f"{'name'.ljust(width)}  {'kind':8}  params  {'matches by':16}  path")
    for r in rows:
        note = "  (shadowed)" if r["shadowed"] else ""
        how = "model" if r["model"] else f"search ({r['matches_by']})" if r["matches_by"] else "-"  # --json: why
        print(f"{str(r['name']).ljust(width)}  {str(r['kind']):8}  {r['parameters']:>6}  {how:16}  {r['path']}{note}")
        if "error" in r:
            print(f"{'':{width}}  error: {r['error']}")
    return 0


def cmd_import_midi_guide(args: argparse.Namespace) -> int:
    """Turn a midi.guide CSV into a synth definition TOML."""
    from synthmatch.midi_guide import run_import

    return run_import(args.csv, args.out)


def cmd_import_vst3(args: argparse.Namespace) -> int:
    """Write a synth definition from a VST3 instrument's parameters."""
    from synthmatch.vst3_import import run_import_vst3

    return run_import_vst3(args)


def cmd_train(args: argparse.Namespace) -> int:
    """Train an observer and a policy for one synth (needs the [train] extra)."""
    from synthmatch.training.train import run_train

    return run_train(args)


def cmd_export(args: argparse.Namespace) -> int:
    """Export a training run's observer and policy to ONNX with their metadata."""
    from synthmatch.training.export import run_export

    return run_export(args)


def cmd_match(args: argparse.Namespace) -> int:
    """Match one target file with the agent or a baseline."""
    from synthmatch.match_command import run_match

    return run_match(args)


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate methods and budgets on the same targets (needs the [train] extra)."""
    from synthmatch.training.evaluate import run_eval

    return run_eval(args)


def cmd_daemon(args: argparse.Namespace) -> int:
    """Run the OSC daemon: the config file's settings, overridden by the command line's."""
    from synthmatch.daemon.config import config_overrides, load_config
    from synthmatch.daemon.run import run_daemon
    from synthmatch.daemon.transport_errors import TransportError

    try:
        return run_daemon(load_config(args.config, config_overrides(args)))
    except TransportError as err:  # a missing MIDI port or audio device
        return report_error(args, err)


def cmd_send(args: argparse.Namespace) -> int:
    """Send one OSC message to the daemon and print its replies."""
    from synthmatch.daemon.osc_client import run_send

    return run_send(args)


def cmd_synth(args: argparse.Namespace) -> int:
    """Play a synth as a real-time instrument that follows MIDI notes and CCs."""
    from synthmatch.daemon.live_instrument import run_live_instrument

    return run_live_instrument(args)


def _add_live_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    daemon = sub.add_parser("daemon", help="run the OSC daemon that matches a synth to targets (docs/osc.md)")
    daemon.add_argument("--config", type=Path, metavar="FILE.toml", help="settings file; options below override it")
    add_daemon_arguments(daemon)
    daemon.set_defaults(run=cmd_daemon)

    send = sub.add_parser("send", help="send one OSC message to the daemon and print the replies")
    send.add_argument("address", metavar="ADDRESS", help="e.g. /synthmatch/ping")
    send.add_argument("args", nargs="*", metavar="ARG", help="42 is an int, 0.5 a float, else a string; s:42 a string")
    send.add_argument("--host", default="127.0.0.1", help="the daemon's host (default 127.0.0.1)")
    send.add_argument("--port", type=int, default=9000, help="the daemon's port (default 9000)")
    send.add_argument("--timeout", type=float, default=2.0, metavar="S",
                      help="give up after S seconds without a reply (default 2)")
    send.set_defaults(run=cmd_send)

    synth = sub.add_parser("synth", help="play a synth as a real-time JACK/ALSA instrument following MIDI CCs")
    synth.add_argument("--synth", default="builtin", help="synth definition name or TOML path (default: builtin)")
    synth.add_argument("--midi-api", choices=get_args(MidiApi), default="auto", help="MIDI input system")
    synth.add_argument("--name", default="synthmatch-synth", metavar="CLIENT", help="MIDI and audio client name")
    synth.add_argument("--audio-device", metavar="DEV", help="audio output device (name or index)")
    synth.set_defaults(run=cmd_synth)


def _add_offline_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = sub.add_parser("train", help="train an observer and a policy for a synth ([train] extra)")
    train.add_argument("--synth", required=True, help="synth definition name or TOML path")
    train.add_argument("--config", type=Path, metavar="FILE.toml", help="training configuration (default: built in)")
    train.add_argument("--algo", metavar="NAME",
                       help="RL algorithm after the imitation warm start, a name of synthmatch.training.algorithm's "
                            "registry (default: the configuration's)")
    train.add_argument("--out", type=Path, required=True, metavar="DIR", help="run folder; an existing run resumes")
    train.add_argument("--seed", type=int, help="random seed (default: the configuration's)")
    train.add_argument("--dataset", type=Path, metavar="DIR",
                       help="imitate pairs of this data set's recordings first (`synthmatch dataset`); for an "
                            "external synth, the whole training")
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                       help="where the networks learn (default auto: cuda when torch sees a GPU)")
    train.add_argument("--workers", type=int, default=1, metavar="K",
                       help="processes that render the environments, 1 to the configuration's num_envs (default 1, "
                            "for 2 cores; on a machine with more cores, about one per free core)")
    train.set_defaults(run=cmd_train)

    export = sub.add_parser("export", help="export a training run to ONNX (observer, policy, metadata)")
    export.add_argument("run_dir", type=Path, metavar="DIR", help="a run folder written by `synthmatch train`")
    export.add_argument("--out", type=Path, required=True, metavar="MODEL_DIR", help="e.g. models/builtin/")
    export.set_defaults(run=cmd_export)

    match = sub.add_parser("match", help="match one target sound file")
    match.add_argument("target", type=Path, metavar="TARGET.wav", help="WAV, FLAC, MP3 or OGG")
    match.add_argument("--synth", default="builtin", help="synth definition name or TOML path (default: builtin)")
    match.add_argument("--model", type=Path, metavar="DIR", help="model folder (default: the shipped one)")
    match.add_argument("--method", help=f"{', '.join(METHOD_NAMES)} (default: agent, or {SEARCH_WITHOUT_MODEL} "
                       "when no model fits the synth)")
    match.add_argument("--steps", type=int, default=32, metavar="K", help="agent steps or renders (default 32)")
    match.add_argument("--note", type=int, help="MIDI note to play (default: from the target's pitch)")
    match.add_argument("--seed", type=int, default=0, help="seed of the stochastic methods (default 0)")
    match.add_argument("--out", type=Path, metavar="PATCH.json", help="write the best patch as JSON")
    match.add_argument("--audio-out", type=Path, metavar="OUT.wav",
                       help="write the matched sound as the synth plays it (note, gate, rate, output level)")
    match.add_argument("--compare-out", type=Path, metavar="AB.wav",
                       help="write the target (its own level), 0.5 s of silence, then the match as --audio-out does")
    add_export_arguments(match)
    match.add_argument("--note-seconds", type=float, metavar="S",
                       help="hold the synth's note S seconds (default: as long as the target's, from its envelope)")
    match.add_argument("--plot", type=Path, metavar="OUT.png", help="draw the start and the best step ([plot] extra)")
    match.add_argument("--animate", type=Path, metavar="OUT.gif",
                       help="animate every agent step: .gif, or .mp4 with ffmpeg ([plot] extra)")
    match.add_argument("--json", action="store_true", help="print one JSON object with the result")
    match.set_defaults(run=cmd_match)

    ev = sub.add_parser("eval", help="compare methods and budgets on the same targets ([train] extra)")
    ev.add_argument("--synth", default="builtin", help="synth definition name or TOML path (default: builtin)")
    targets = ev.add_mutually_exclusive_group()
    targets.add_argument("--targets", type=Path, metavar="DIR", help="a folder of target audio files")
    targets.add_argument("--random", type=int, metavar="N", help="N random held-out patches (default 256)")
    targets.add_argument("--dataset", type=Path, metavar="DIR",
                         help="the held-out recordings of a data set (patch numbers that are multiples of 10)")
    ev.add_argument("--seed", type=int, default=1234, help="seed of the targets and methods (default 1234)")
    ev.add_argument("--model", type=Path, metavar="DIR", help="model folder (default: the shipped one)")
    ev.add_argument("--methods", default=",".join(DEFAULT_EVAL_METHODS),
                    help=f"comma-separated, of {', '.join(METHOD_NAMES)} (default: %(default)s)")
    ev.add_argument("--budgets", default="8,16,32,64,256,1024", help="comma-separated steps/render budgets")
    ev.add_argument("--out", type=Path, metavar="FILE.json", help="also write the JSON report here")
    ev.add_argument("--plot", type=Path, metavar="OUT.png", help="draw distance against renders used ([plot] extra)")
    ev.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    ev.set_defaults(run=cmd_eval)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="synthmatch", description="Match a synthesizer to a sound with a reinforcement-learning agent."
    )
    parser.add_argument("--version", action="version", version=f"synthmatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    synths = sub.add_parser("synths", help="list the known synth definitions")
    synths.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    synths.set_defaults(run=cmd_synths)

    mg = sub.add_parser("import-midi-guide", help="turn a midi.guide CSV into a synth definition")
    mg.add_argument("csv", type=Path, metavar="FILE.csv", help="a CSV from the midi.guide data set")
    mg.add_argument("--out", type=Path, metavar="FILE.toml", help="where to write the definition (default: stdout)")
    mg.set_defaults(run=cmd_import_midi_guide)

    vst3 = sub.add_parser("import-vst3", help="turn a VST3 instrument's parameters into a synth definition")
    vst3.add_argument("plugin", type=Path, metavar="PLUGIN.vst3", help="the plugin bundle or file")
    vst3.add_argument("--out", type=Path, required=True, metavar="DEF.toml", help="where to write the definition")
    vst3.add_argument("--name", help="the synth's name (default: the --out file's name without .toml)")
    vst3.add_argument("--all", action="store_true", help="also take the parameters the plugin says are not automatable")
    vst3.set_defaults(run=cmd_import_vst3)
    _add_offline_commands(sub)
    add_dataset_command(sub)
    add_patch_command(sub)
    _add_live_commands(sub)
    return parser


#: Top-level modules that only the training extra installs.
TRAINING_EXTRA_MODULES = ("torch", "gymnasium", "tqdm", "tensorboard", "onnx", "onnxscript")


def missing_module_hint(name: str | None) -> str:
    """What to install for a missing module: the training extra for its modules, else the package itself again."""
    if (name or "").split(".")[0] in TRAINING_EXTRA_MODULES:
        return "this command needs the training extra: pip install 'synthmatch[train]'"
    return "synthmatch's installation is incomplete: pip install --force-reinstall synthmatch"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Command | None = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return run(args)
    except ModuleNotFoundError as err:
        print(f"synthmatch {args.command}: error: {err}; {missing_module_hint(err.name)}", file=sys.stderr)
        return 1
    except ImportError as err:  # PlottingUnavailable: matplotlib or ffmpeg missing for --plot/--animate
        return report_error(args, err)
    except (DefinitionError, OSError, ValueError, SynthUnavailable) as err:
        return report_error(args, err)
    except KeyboardInterrupt:
        return 130


def report_error(args: argparse.Namespace, err: Exception) -> int:
    """Print a command's failure as one line on stderr; returns the exit status 1."""
    print(f"synthmatch {args.command}: error: {err}", file=sys.stderr)
    return 1
