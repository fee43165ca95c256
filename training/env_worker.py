"""The batched environment in child processes, so the learner's gradient updates run while the synth renders.

On the 2-core box one worker process steps :class:`~synthmatch.training.vector_environment.SynthMatchVectorEnv`
(render, features, distances: numpy) and the main process runs torch; on a machine with more cores (a GPU
machine) ``synthmatch train --workers K`` splits the environments over K processes. ``step_async`` sends the
actions and returns at once; ``step_wait`` collects the step. Children are started with "spawn", so they import
numpy and the synth but never torch, and inherit no torch threads.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.connection
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from synthmatch.synths import open_synth
from synthmatch.training.augment import AugmentConfig
from synthmatch.training.reward_probe import ProbeSettings
from synthmatch.training.targets import folder_targets
from synthmatch.training.vector_environment import SynthMatchVectorEnv

StepResult = tuple[
    dict[str, npt.NDArray[Any]], npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_], dict[str, Any]
]


@dataclass(frozen=True)
class EnvSettings:
    """What the worker needs to build its environment (plain, picklable values)."""

    num_envs: int
    """Episodes stepped together."""
    synth: str | Path
    """Synth definition name or TOML path."""
    max_episode_steps: int
    """Steps after which an episode is truncated."""
    max_step: float
    """Largest change of a normalised parameter per step."""
    recordings: str = ""
    """Folder of target recordings mixed into the episodes ("" for none; see SynthMatchVectorEnv)."""
    recording_share: float = 0.0
    """Share of episodes whose target is one of the recordings."""
    augment: AugmentConfig | None = None
    """How random-patch targets are augmented (None: never)."""

    def build(self) -> SynthMatchVectorEnv:
        """The vector environment these settings describe (loading the recordings, if any)."""
        synth = open_synth(self.synth)
        recordings = folder_targets(synth, Path(self.recordings)) if self.recordings else []
        return SynthMatchVectorEnv(self.num_envs, synth=synth, max_episode_steps=self.max_episode_steps,
                                   max_step=self.max_step, recordings=recordings,
                                   recording_share=self.recording_share, augment=self.augment)


def _serve(connection: multiprocessing.connection.Connection, settings: EnvSettings) -> None:
    """The worker's loop: answer ("reset", seed), ("step", (actions, probe)) and ("close", None) until closed.

    With a probe (:class:`ProbeSettings`, not None) the step's info carries ``reward_gradient`` [num_envs, P], the
    probed reward gradient at the actions, measured before the step.
    """
    try:
        env = settings.build()
        connection.send(("ok", None))
        while True:
            command, argument = connection.recv()
            if command == "reset":
                connection.send(("ok", env.reset(seed=argument)))
            elif command == "step":
                actions, probe = argument
                gradient = None if probe is None else env.reward_gradient(actions, probe)
                result = env.step(actions)
                if gradient is not None:
                    result[4]["reward_gradient"] = gradient
                connection.send(("ok", result))
            else:
                break
    except KeyboardInterrupt:  # the parent handles Ctrl-C; the child just stops
        pass
    except Exception:
        connection.send(("error", traceback.format_exc()))
    finally:
        connection.close()


def check_worker_count(processes: int, num_envs: int) -> None:
    """Refuse a number of worker processes outside 1 to ``num_envs`` (a share of no environment is no worker)."""
    if not 1 <= processes <= num_envs:
        raise ValueError(f"--workers {processes}: give 1 to num_envs ({num_envs}) worker processes")


class EnvWorker:
    """A :class:`SynthMatchVectorEnv` in ``processes`` child processes, stepped asynchronously; a context manager.

    With more than one process the ``num_envs`` environments are split into contiguous shares, one per process,
    and every batch is put back together in order, so the learner sees one vector environment either way.
    Environment i is still seeded with ``seed + i``: the episodes do not depend on the split, only the probe's
    random variations do (each process draws its own).
    """

    def __init__(self, settings: EnvSettings, processes: int = 1) -> None:
        check_worker_count(processes, settings.num_envs)
        self.settings = settings
        self.num_envs = settings.num_envs
        shares = [len(rows) for rows in np.array_split(np.arange(settings.num_envs), processes)]
        self._bounds = np.cumsum([0, *shares]).tolist()
        context = multiprocessing.get_context("spawn")
        self._children: list[tuple[multiprocessing.process.BaseProcess, multiprocessing.connection.Connection]] = []
        self._pending = False
        try:
            for share in shares:
                connection, child = context.Pipe()
                process = context.Process(target=_serve, args=(child, dataclasses.replace(settings, num_envs=share)),
                                          daemon=True, name="synthmatch-env")
                process.start()
                child.close()
                self._children.append((process, connection))
            self._receive_all()  # every environment was built, or the first error is raised here
        except BaseException:
            self.close()
            raise

    @property
    def processes(self) -> int:
        """How many worker processes step the environments."""
        return len(self._children)

    def reset(self, seed: int) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
        """Start new episodes everywhere; environment i is seeded with ``seed + i``."""
        for offset, (process, connection) in zip(self._bounds[:-1], self._children, strict=True):
            _send(process, connection, ("reset", seed + offset))
        observations, infos = zip(*self._receive_all(), strict=True)
        return _joined(list(observations)), _joined(list(infos))

    def step_async(self, actions: npt.NDArray[np.floating], probe: ProbeSettings | None = None) -> None:
        """Send ``actions[num_envs, P]`` and return while the workers step (and probe first, given ``probe``)."""
        if self._pending:
            raise RuntimeError("step_async called twice without step_wait")
        rows = np.asarray(actions, dtype=np.float32)
        self._pending = True  # set first: a worker that is gone fails the send, and close() still collects the rest
        for start, stop, (process, connection) in zip(self._bounds[:-1], self._bounds[1:], self._children,
                                                       strict=True):
            _send(process, connection, ("step", (rows[start:stop], probe)))

    def step_wait(self) -> StepResult:
        """The step started by :meth:`step_async`: obs, rewards, terminated, truncated, infos (see the vector env)."""
        if not self._pending:
            raise RuntimeError("step_wait called without step_async")
        self._pending = False
        parts: list[StepResult] = self._receive_all()
        if len(parts) == 1:
            return parts[0]
        ended = [part[4]["final_info"] for part in parts if "final_info" in part[4]]
        infos = [_with_final(part, ended[0].keys()) for part in parts] if ended else [part[4] for part in parts]
        return (_joined([part[0] for part in parts]), np.concatenate([part[1] for part in parts]),
                np.concatenate([part[2] for part in parts]), np.concatenate([part[3] for part in parts]),
                _joined(infos))

    def step(self, actions: npt.NDArray[np.floating], probe: ProbeSettings | None = None) -> StepResult:
        """:meth:`step_async` then :meth:`step_wait`."""
        self.step_async(actions, probe)
        return self.step_wait()

    def close(self) -> None:
        """Stop the worker processes."""
        for process, connection in self._children:
            if process.is_alive():
                try:
                    if self._pending:
                        connection.recv()
                    connection.send(("close", None))
                except (BrokenPipeError, EOFError, OSError):
                    pass
        for process, connection in self._children:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()
            connection.close()
        self._pending = False

    def __enter__(self) -> EnvWorker:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _receive_all(self) -> list[Any]:
        """Every worker's answer, in order; a worker's exception, with its traceback, as a RuntimeError here."""
        return [_receive(process, connection) for process, connection in self._children]


def _gone(process: multiprocessing.process.BaseProcess) -> RuntimeError:
    """The error for a worker process that is no longer there, naming it."""
    return RuntimeError(f"the environment worker (pid {process.pid}) exited unexpectedly")


def _send(process: multiprocessing.process.BaseProcess, connection: multiprocessing.connection.Connection,
          message: tuple[str, Any]) -> None:
    """Send one worker a command; a worker that is gone is a RuntimeError naming it, as when receiving."""
    try:
        connection.send(message)
    except OSError as err:  # BrokenPipeError, ConnectionResetError among them
        raise _gone(process) from err


def _receive(process: multiprocessing.process.BaseProcess, connection: multiprocessing.connection.Connection) -> Any:
    """One worker's answer; its exception, with the worker's traceback, as a RuntimeError here."""
    try:
        status, payload = connection.recv()
    except EOFError as err:
        raise _gone(process) from err
    if status == "error":
        raise RuntimeError(f"the environment worker failed:\n{payload}")
    return payload


def _with_final(part: StepResult, final_keys: Iterable[str]) -> dict[str, Any]:
    """A worker's infos with the final_* entries a step that ended no episode there lacks (rows marked not final).

    ``final_keys`` are those of another worker's ``final_info`` (the episode's info, without per-step extras such
    as the probe's ``reward_gradient``), so that the shares' final infos join key for key.
    """
    observations, _, _, _, infos = part
    if "final_obs" in infos:
        return infos
    rows = len(part[1])
    return {**infos, "final_obs": observations, "_final_obs": np.zeros(rows, dtype=np.bool_),
            "final_info": {key: infos[key] for key in final_keys}, "_final_info": np.zeros(rows, dtype=np.bool_)}


def _joined(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Batched dicts (arrays by rows, or nested such dicts) of consecutive shares put back into one, in order."""
    if len(parts) == 1:
        return parts[0]
    return {key: _joined([part[key] for part in parts]) if isinstance(value, dict)
            else np.concatenate([part[key] for part in parts]) for key, value in parts[0].items()}
