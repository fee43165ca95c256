"""Build a model folder's start bank (:mod:`synthmatch.start_bank`) from recordings the agent has matched.

The agent of the folder (and its relay) matches every recording in a folder, prepared as ``synthmatch match``
prepares it, at 32 steps from the default patch, as the match loop plays (its polish included); the best patches
are grouped by k-means (normalised parameter space, seeded) and the patch nearest each group's centre becomes a
start. So the bank is a spread of patches the agent itself reaches on real sounds. Use training recordings only,
never a set you evaluate on::

    python -m synthmatch.training.build_start_bank --model models/builtin --recordings bench/targets/train-real
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from synthmatch.agent import OnnxAgent
from synthmatch.definitions import find_definition
from synthmatch.matching import match_with_agent
from synthmatch.model_folder import load_metadata
from synthmatch.start_bank import write_start_bank
from synthmatch.synths import Synth, open_synth
from synthmatch.training.evaluate import held_synth
from synthmatch.training.targets import folder_targets

#: Starts in a bank: chosen among 3, 7, 11 and 15 on training recordings the bank was not built from (11 ended
#: closest; docs/evaluation.md, "Start bank").
DEFAULT_COUNT = 11
#: Steps of each match the bank is built from: the agent's episode.
MATCH_STEPS = 32
#: Lloyd iterations of the k-means.
KMEANS_ITERATIONS = 50


def medoids(points: npt.NDArray[np.float64], count: int, seed: int) -> npt.NDArray[np.float64]:
    """``count`` rows of ``points`` [N, P]: the one nearest each centre of a seeded k-means (fewer if they repeat)."""
    rng = np.random.default_rng(seed)
    centres = points[rng.choice(len(points), count, replace=False)]
    for _ in range(KMEANS_ITERATIONS):
        group = np.argmin(((points[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        centres = np.array([points[group == k].mean(0) if np.any(group == k) else centres[k] for k in range(count)])
    nearest = dict.fromkeys(int(np.argmin(((points - centre) ** 2).sum(-1))) for centre in centres)
    return points[list(nearest)]


def agent_bests(
    agent: OnnxAgent, synth: Synth, recordings: Path, count: int, progress: bool
) -> npt.NDArray[np.float64]:
    """The best patch [N, P] of the agent's 32-step match of every recording in ``recordings`` (without a bank);
    a ValueError before any match when there are fewer recordings than ``count`` starts."""
    targets = folder_targets(synth, recordings)
    if not 1 <= count <= len(targets):
        raise ValueError(f"--count {count}: choose 1 to {len(targets)} starts (one per recording at most)")
    synths = {synth.definition.note.note_seconds: synth}
    bests = []
    for target in tqdm(targets, desc="matching", unit="file", file=sys.stderr, disable=None if progress else True):
        assert target.prepared is not None
        held = held_synth(synths, target.prepared)
        bests.append(match_with_agent(held, agent, target.audio, target.note, MATCH_STEPS).params)
    return np.array(bests)


def build_start_bank(model_dir: Path, recordings: Path, count: int = DEFAULT_COUNT, seed: int = 0,
                     progress: bool = False) -> tuple[Path, int]:
    """Match ``recordings`` with the agent of ``model_dir``, choose ``count`` starts (fewer where two groups share
    their nearest patch), write its starts.json; returns its path and the starts written."""
    definition = find_definition(load_metadata(model_dir).synth_name)
    agent = OnnxAgent.load(model_dir, definition, starts=False)  # an old bank, even a broken one, plays no part
    began = time.perf_counter()
    bests = agent_bests(agent, open_synth(definition), recordings, count, progress)
    bank = medoids(bests, count, seed)
    path = write_start_bank(model_dir, definition, bank, {
        "recordings": str(recordings), "files": len(bests), "count": len(bank), "seed": seed, "steps": MATCH_STEPS,
        "seconds": round(time.perf_counter() - began, 1), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    return path, len(bank)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the start bank of a model folder from a folder of (training) recordings."""
    parser = argparse.ArgumentParser(prog="python -m synthmatch.training.build_start_bank", description=main.__doc__)
    parser.add_argument("--model", type=Path, required=True, metavar="DIR", help="a model folder (metadata.json)")
    parser.add_argument("--recordings", type=Path, required=True, metavar="FOLDER",
                        help="audio files to match; training recordings, never an evaluation set")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="starts in the bank (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the k-means (default 0)")
    args = parser.parse_args(argv)
    try:
        path, count = build_start_bank(args.model, args.recordings, args.count, args.seed, progress=True)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{path}: {count} starts from the agent's matches of {args.recordings}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
