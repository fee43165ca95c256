"""The data set stage of a run: imitation from pairs of recorded patches (``synthmatch train --dataset DIR``).

What a pair is and why it is a valid imitation state is :mod:`synthmatch.training.recorded_pairs`'s; this module
reads the data set, holds out a fixed part of its recordings (:func:`~synthmatch.training.targets.held_out_rows`),
and fits the run's observer and policy on minibatches of same-note pairs of the others, checkpointing every
``[pairs] checkpoint_updates`` updates, so an interrupted stage resumes where it stopped. It renders nothing, so it
is the whole training of a synth that cannot render in-process (an external one); a synth that can goes on with the
run's DAgger rounds and RL stage.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import numpy.typing as npt

from synthmatch.datasets import DatasetError
from synthmatch.training.recorded_pairs import FixedPairs, PairSampler, RecordedPairs, recording_mels
from synthmatch.training.targets import held_out_rows, open_recordings
from synthmatch.training.training_run import TrainingRun, stream_seed

#: Second word of the seed of the fixed held-out pairs: stream_seed(seed, HELD_OUT_PAIRS_STREAM).
HELD_OUT_PAIRS_STREAM = 6


def load_recordings(run: TrainingRun) -> tuple[RecordedPairs, npt.NDArray[np.int64]]:
    """The run's data set (``config.dataset``) as :class:`RecordedPairs`, features computed once; patch numbers.

    A DatasetError when it was made with another definition (naming both), was played at another sample rate
    or length than the definition plays now (:func:`~synthmatch.training.targets.open_recordings`), or holds no
    recording.
    """
    folder = run.config.dataset
    dataset = open_recordings(folder, run.definition)
    params, notes, audio, index = loaded = dataset.load_all()
    if len(notes) == 0:
        raise DatasetError(f"{folder}: holds no recording yet; run synthmatch dataset to make (or resume) it")
    with run.bar("features", len(notes)) as bar:
        mels = recording_mels(audio, run.features, bar.update)
    del loaded, audio
    return RecordedPairs(mels, params.astype(np.float32), notes.astype(np.int64), run.config.max_step), index


def split(
    run: TrainingRun, recordings: RecordedPairs, index: npt.NDArray[np.int64]
) -> tuple[RecordedPairs, RecordedPairs]:
    """The training recordings and the held-out ones (``[pairs] held_out_every``); an error if either is empty."""
    held = held_out_rows(index, run.config.pairs.held_out_every)
    if held.all() or not held.any():
        raise DatasetError(
            f"{run.config.dataset}: {len(recordings)} recording(s) leave "
            f"{'none' if held.all() else 'none held out'} to train on with held_out_every = "
            f"{run.config.pairs.held_out_every}; make a bigger data set"
        )
    return recordings.subset(~held), recordings.subset(held)


def learn_from_dataset(run: TrainingRun) -> None:
    """The "dataset" step: ``[pairs] updates`` imitation updates on pairs of recordings, then a validation."""
    config, imitation = run.config.pairs, run.config.imitation
    train, held_out = split(run, *load_recordings(run))
    sampler = PairSampler(train)
    validation = FixedPairs(held_out, config.validation_pairs, stream_seed(run.config.seed, HELD_OUT_PAIRS_STREAM))
    started = time.perf_counter()
    errors: deque[float] = deque(maxlen=max(1, config.updates // 10))
    with run.bar("dataset", config.updates, initial=run.state.pair_updates) as bar:
        while run.state.pair_updates < config.updates:
            errors.append(run.imitation.step(sampler.sample(imitation.batch_size, run.rng)))
            run.state.pair_updates += 1
            run.state.updates += 1
            if run.state.updates % 50 == 0:
                run.log("imitation/action_mse", errors[-1])
                bar.set_postfix(mse=f"{errors[-1]:.3f}")
            bar.update(1)
            if run.state.pair_updates % config.checkpoint_updates == 0 and run.state.pair_updates < config.updates:
                run.log("validation/action_mse_held_out", run.imitation.action_mse(validation))  # overfitting shows
                run.checkpoint()
    held_out_mse = run.imitation.action_mse(validation)
    run.log("validation/action_mse_held_out", held_out_mse)
    matched = run.validate()
    run.state.evaluation = {**matched, "action_mse_held_out": held_out_mse}
    run.finish("dataset", {
        "env_steps": 0, "updates": run.state.pair_updates,
        "seconds": time.perf_counter() - started, "recordings": len(train), "held_out_recordings": len(held_out),
        "action_mse_train": float(np.mean(errors)) if errors else float("nan"),
        "action_mse_held_out": held_out_mse, **matched,
    })
