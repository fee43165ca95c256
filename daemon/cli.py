"""The `synthmatch` command: one console script, one small function per subcommand."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from synthmatch import __version__
from synthmatch.definitions import DefinitionError, iter_definition_files, load_definition

Command = Callable[[argparse.Namespace], int]


def cmd_synths(args: argparse.Namespace) -> int:
    """List every synth definition on the search path: name, kind, parameter count, file."""
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    for path in iter_definition_files():
        row: dict[str, object] = {"name": path.stem, "path": str(path), "shadowed": path.stem in seen}
        seen.add(path.stem)
        try:
            definition = load_definition(path)
        except DefinitionError as err:
            row.update(kind="invalid", parameters=0, error=str(err))
        else:
            row.update(name=definition.name, kind=definition.kind, parameters=len(definition.parameters))
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max([len(str(r["name"])) for r in rows] + [4])
    print(f"{'name'.ljust(width)}  {'kind':8}  params  path")
    for r in rows:
        note = "  (shadowed)" if r["shadowed"] else ""
        print(f"{str(r['name']).ljust(width)}  {str(r['kind']):8}  {r['parameters']:>6}  {r['path']}{note}")
        if "error" in r:
            print(f"{'':{width}}  error: {r['error']}")
    return 0


def cmd_import_midi_guide(args: argparse.Namespace) -> int:
    """Turn a midi.guide CSV into a synth definition TOML."""
    from synthmatch.midi_guide import run_import

    return run_import(args.csv, args.out)


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
    return parser


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
    except (DefinitionError, FileNotFoundError, ValueError) as err:
        print(f"synthmatch {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
