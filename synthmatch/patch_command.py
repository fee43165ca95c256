"""`synthmatch patch convert PATCH.json`: a saved patch into the files a DAW or a hardware synth loads.

The patch is a JSON file written by ``synthmatch match --out`` or the daemon's ``patch/save``; it becomes a .vstpreset
(VST3 synths) and/or a standard MIDI file of the CCs that set it (synths with MIDI transports), as
:mod:`synthmatch.patch_exports` writes them for ``match``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from synthmatch.definitions import find_definition
from synthmatch.patch_exports import ExportError, add_export_arguments, exports_from
from synthmatch.patches import read_patch


def add_patch_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``patch`` command group: ``patch convert``."""
    patch = sub.add_parser("patch", help="work with saved patches: convert one into a .vstpreset or a MIDI file")
    actions = patch.add_subparsers(dest="patch_command", metavar="ACTION", required=True)
    convert = actions.add_parser("convert", help="write a saved patch (JSON) as a .vstpreset and/or a MIDI file")
    convert.add_argument("patch", type=Path, metavar="PATCH.json", help="written by `match --out` or patch/save")
    convert.add_argument("--synth", help="synth definition name or TOML path (default: the one the patch names)")
    add_export_arguments(convert)
    convert.set_defaults(run=run_patch_convert)


def run_patch_convert(args: argparse.Namespace) -> int:
    """Write ``args.patch`` into the files that ``--preset-out`` and ``--midi-file`` name; print each path."""
    exports = exports_from(args)
    if exports.preset is None and exports.midi is None:
        raise ExportError("nothing to write: give --preset-out X.vstpreset and/or --midi-file X.mid")
    patch = read_patch(args.patch)
    definition = find_definition(args.synth or patch.synth)
    params = patch.params(definition)
    if patch.synth_sha256 and definition.sha256 and patch.synth_sha256 != definition.sha256:
        print(f"synthmatch patch: note: {definition.source or definition.name} changed since {args.patch} was "
              "saved; the values are converted by today's definition", file=sys.stderr)
    for path in exports.check(definition).write(definition, params):
        print(f"{path.suffix} file written to {path}")
    return 0
