"""``synthmatch dataset``: render (or record through the rig) N random patches of a synth into a data set folder.

In-process synths (builtin, VST3) render here, in ``--workers`` local processes, or on a Ray cluster (``--ray``);
external synths are played over MIDI/OSC and recorded from the audio input, one take at a time (the rig options
are the daemon's: ``--midi-port``, ``--osc-target``, ``--audio-device`` ...). The format is in docs/datasets.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from synthmatch.daemon.config import METAVARS
from synthmatch.daemon.live_rig import LiveOptions, open_live_rig, render_mode
from synthmatch.daemon.transport_errors import TransportError
from synthmatch.dataset_maker import RunResult, SynthStoppedSounding, make_dataset, silence_watch
from synthmatch.dataset_ray import RayUnavailable
from synthmatch.dataset_render import InProcess, LocalPool, ShardRenderer
from synthmatch.datasets import SHARD_SIZE, Manifest
from synthmatch.definitions import SynthDefinition, find_definition
from synthmatch.settings_loader import add_arguments, given_options
from synthmatch.synths import open_synth

#: A rig run stops when this many takes in a row are silent (the synth stopped sounding).
SILENT_TAKES_LIMIT = 5


def add_dataset_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``dataset`` subcommand and its options."""
    p = sub.add_parser("dataset", help="render or record N random patches of a synth into a data set folder",
                       description="Render (in-process synths) or play and record (external synths, through "
                       "the rig) N random patches across the playable notes; an existing folder resumes "
                       "(docs/datasets.md).")
    p.add_argument("--synth", required=True, help="synth definition name or TOML path")
    p.add_argument("--patches", type=int, required=True, metavar="N", help="number of random patches")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="data set folder; an existing one resumes")
    p.add_argument("--seed", type=int, default=0, help="seed of the patches (default 0)")
    p.add_argument("--workers", type=int, metavar="K",
                   help="local worker processes, each with its own synth (default 1); with --ray: Ray actors "
                        "(default: one per CPU of the cluster)")
    p.add_argument("--ray", metavar="HOST:PORT", help="render on the Ray cluster at this address ([ray] extra)")
    p.add_argument("--shard-size", type=int, default=SHARD_SIZE, metavar="M",
                   help=f"patches per shard file (default {SHARD_SIZE}); a resume needs the same")
    p.add_argument("--silent-limit", type=int, default=SILENT_TAKES_LIMIT, metavar="K",
                   help=f"rig only: stop when K takes in a row are silent (default {SILENT_TAKES_LIMIT})")
    rig = p.add_argument_group("rig (external synths; the daemon's options, docs/osc.md)")
    add_arguments(rig, LiveOptions, METAVARS)  # type: ignore[arg-type]  # a group adds arguments like a parser
    p.set_defaults(run=run_dataset)


def run_dataset(args: argparse.Namespace) -> int:
    """Make or resume the data set; a one-line error (and every shard written kept) when the run cannot go on."""
    try:
        definition = find_definition(args.synth)
        options = LiveOptions(**given_options(args, LiveOptions))
        live = render_mode(definition, options) == "live"
        if args.patches < 1 or args.shard_size < 1 or (args.workers is not None and args.workers < 1):
            raise ValueError("--patches, --shard-size and --workers must be at least 1")
        manifest = Manifest.for_definition(definition, seed=args.seed, patches=args.patches,
                                           source="rig" if live else "render", shard_size=args.shard_size)
        if live:
            result = _record(args, definition, manifest, options)
        else:
            result = make_dataset(args.out, definition, manifest, _renderer(args, definition))
    except (TransportError, SynthStoppedSounding, RayUnavailable) as err:
        print(f"synthmatch dataset: error: {err}", file=sys.stderr)
        return 1
    counts = result.counts
    state = "complete" if result.complete else "incomplete: run the same command to resume"
    print(f"{args.out}: {counts.line()}; {result.patches_this_run} patches in {result.seconds:.1f} s "
          f"({result.rate:.1f} patches/s) this run; {state}", file=sys.stderr)
    return 0


def _renderer(args: argparse.Namespace, definition: SynthDefinition) -> ShardRenderer:
    """Where an in-process synth renders: Ray, local worker processes, or this process."""
    synth = open_synth(definition)  # here first: a missing plugin is one clear error, not a worker's crash
    if args.ray is not None:
        from synthmatch.dataset_ray import RayRenderer

        return RayRenderer(args.ray, definition, args.workers)
    if (args.workers or 1) > 1:
        return LocalPool(definition, args.workers)
    return InProcess(synth)


def _record(
    args: argparse.Namespace, definition: SynthDefinition, manifest: Manifest, options: LiveOptions
) -> RunResult:
    """Play and record the data set through the rig, one take at a time, stopping when the synth goes silent."""
    if args.ray is not None or (args.workers or 1) > 1:
        raise ValueError(f"{definition.name} is played live through the rig, one note at a time: --workers and "
                         "--ray are for synths that render in-process")
    rig = open_live_rig(definition, options)
    try:
        renderer = InProcess(rig.synth, one_at_a_time=True, watch=silence_watch(definition, args.silent_limit),
                             fatal=(TransportError,))
        return make_dataset(args.out, definition, manifest, renderer)
    finally:
        rig.close()
