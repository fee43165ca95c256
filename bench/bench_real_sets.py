"""Real sounds at users' levels: the agent against the searches on the three real sets, target by target.

Run ``.venv/bin/python -m bench.bench_real_sets [--stride N] [--model DIR]`` after ``scripts/make-real-targets.sh
--sets`` (skips with a note when the sets are missing). Each target is read as ``synthmatch match`` reads it: its
note length estimated from its envelope and the synth's note held that long, its pitch chosen, and every distance at
equal loudness (docs/metrics.md); each best patch is also judged full-band (synthmatch.full_band: the sound
``--audio-out`` writes, against the file at its own rate). Every method gets its own seeded stream per target, as in
``synthmatch eval``. Prints medians per set and the issue's three targets (median of the per-target ratio agent@32 /
CMA-ES@1024, agent+search@256 and agent+refine@256 / CMA-ES@1024, and the targets where the agent gains nothing
while random@32 finds a closer patch); writes ``bench/results/real_sets.json`` with every match and every file's
SHA-256 (and says first when the files differ from those the committed report was measured on). About 3 minutes
per 16 notes on one core (``--stride 2``: 56 notes, about 12 minutes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import RESULTS, report
from synthmatch.agent_methods import agent_parts
from synthmatch.definitions import find_definition
from synthmatch.full_band import full_band_distance, read_full_band
from synthmatch.match_methods import match_method
from synthmatch.prepared_target import level_of, read_prepared_target
from synthmatch.synths import Synth, open_synth

SETS = Path(__file__).resolve().parent / "targets" / "real-sets"
#: (method, budget) pairs run on every target: the issue's comparison.
RUNS = (("agent", 32), ("agent+search", 256), ("agent+refine", 256), ("random", 32), ("cmaes", 32), ("cmaes", 256),
        ("cmaes", 1024))
COLUMNS = ("set", "targets", "start", "agent@32", "agent+search@256", "agent+refine@256", "random@32", "cmaes@32",
           "cmaes@256", "cmaes@1024", "agent32/cmaes1024", "search256/cmaes1024", "refine256/cmaes1024",
           "agent_stuck_random_better",
           "full-band agent@32", "full-band search@256", "full-band cmaes@1024")


def match_set(files: Sequence[Path], model: Path | None, seed: int) -> list[dict[str, Any]]:
    """Every run of RUNS on every file: one row per (target, method, budget) with its distances and patch."""
    base = find_definition("builtin")
    functions = {name: match_method(name).load() for name, _ in RUNS}
    synths: dict[float, Synth] = {}
    rows = []
    for index, path in enumerate(files):
        prepared = read_prepared_target(path, base)
        target, note, key = prepared.audio, prepared.note, prepared.note_seconds
        synth = synths.get(key) or synths.setdefault(key, open_synth(prepared.definition))
        full_band = read_full_band(path)
        for name, budget in RUNS:
            rng = np.random.default_rng([seed, 0xBA5E, zlib.crc32(name.encode()), budget, index])
            result = functions[name](synth, target, note, budget, rng, model)
            level = level_of(synth, result.params, prepared)
            rows.append({"set": path.parent.name, "target": path.name, "method": name, "budget": budget,
                         "note": note, "note_seconds": key, "distance": result.distance,
                         "start": result.distance_start, "seconds": result.seconds,
                         "fullband": full_band_distance(prepared, full_band, level), "gain_db": level.gain_db,
                         "params": [float(x) for x in level.params]})
        print(f"  {index + 1}/{len(files)} {path.parent.name}/{path.name}", file=sys.stderr, flush=True)
    return rows


def file_digests(files: Sequence[Path]) -> dict[str, str]:
    """SHA-256 of each target file, keyed "set/name": the report records them, so that a re-run can tell whether
    it matched the same sounds (the zyn set is recorded over JACK and differs slightly from one recording to the
    next)."""
    return {f"{path.parent.name}/{path.name}": hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def changed_since(report_path: Path, digests: dict[str, str]) -> dict[str, int]:
    """Per set, how many of ``digests`` differ from the files of the same name ``report_path`` was measured on
    (files it did not measure are not counted); empty when that report is missing or predates the digests."""
    try:
        before = json.loads(report_path.read_text(encoding="utf-8")).get("files") or {}
    except (OSError, ValueError):
        return {}
    changed: dict[str, int] = {}
    for name, digest in digests.items():
        if name in before and before[name] != digest:
            changed[name.split("/")[0]] = changed.get(name.split("/")[0], 0) + 1
    return changed


def summarise(label: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Medians per run and the issue's per-target comparisons over ``rows``."""
    by_run: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_run.setdefault(f"{row['method']}@{row['budget']}", {})[f"{row['set']}/{row['target']}"] = row
    agent, search, refine, cmaes, random = (
        by_run[k] for k in ("agent@32", "agent+search@256", "agent+refine@256", "cmaes@1024", "random@32"))
    names = sorted(agent)
    out: dict[str, Any] = {"set": label, "targets": len(names),
                           "start": float(np.median([agent[n]["start"] for n in names]))}
    out.update({run: float(np.median([r["distance"] for r in found.values()])) for run, found in by_run.items()})
    for label, found in (("agent@32", agent), ("search@256", search), ("cmaes@1024", cmaes)):
        out[f"full-band {label}"] = float(np.median([found[n]["fullband"] for n in names]))
    out["agent32/cmaes1024"] = float(np.median([agent[n]["distance"] / cmaes[n]["distance"] for n in names]))
    out["search256/cmaes1024"] = float(np.median([search[n]["distance"] / cmaes[n]["distance"] for n in names]))
    out["refine256/cmaes1024"] = float(np.median([refine[n]["distance"] / cmaes[n]["distance"] for n in names]))
    out["agent_stuck_random_better"] = sum(
        1 for n in names if agent[n]["distance"] >= agent[n]["start"] and random[n]["distance"] < agent[n]["distance"]
    )
    return out


def main(argv: Sequence[str]) -> int:
    """Match every set's (strided) files, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_real_sets", description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="gm,nekobi,zyn", help="comma list of folders under bench/targets/real-sets")
    parser.add_argument("--stride", type=int, default=1, help="take every Nth file of each set (default 1: all)")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the methods' streams (1234)")
    args = parser.parse_args(argv)
    folders = [SETS / name for name in args.sets.split(",")]
    missing = [str(f) for f in folders if not any(f.glob("*.wav"))]
    if missing:
        print(f"no real sets in {', '.join(missing)}; make them with scripts/make-real-targets.sh --sets",
              file=sys.stderr)
        return 0
    chosen = {folder: sorted(folder.glob("*.wav"))[:: args.stride] for folder in folders}
    digests = file_digests([path for files in chosen.values() for path in files])
    for name, count in changed_since(RESULTS / "real_sets.json", digests).items():
        print(f"note: {count} file(s) of the {name} set differ from those bench/results/real_sets.json was measured "
              "on: its figures and these are not comparable target by target", file=sys.stderr)
    matches: list[dict[str, Any]] = []
    for files in chosen.values():
        matches += match_set(files, args.model, args.seed)
    table = [summarise(folder.name, [r for r in matches if r["set"] == folder.name]) for folder in folders]
    table.append(summarise("all", matches))
    report("real_sets", table, COLUMNS, stride=args.stride, model=str(args.model or "shipped"),
           **agent_parts(args.model, find_definition("builtin")), files=digests, matches=matches)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
