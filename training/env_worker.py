"""The batched environment in a child process, so the learner's gradient updates run while the synth renders.

Training has two cores: one steps :class:`~synthmatch.training.vector_environment.SynthMatchVectorEnv` (render,
features, distances: numpy) in the worker process, the other runs torch in the main process. ``step_async``
sends the actions and returns at once; ``step_wait`` collects the step. The child is started with "spawn", so it
imports numpy and the synth but never torch, and inherits no torch threads.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import traceback
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


class EnvWorker:
    """A :class:`SynthMatchVectorEnv` in a child process, stepped asynchronously; use it as a context manager."""

    def __init__(self, settings: EnvSettings) -> None:
        self.settings = settings
        self.num_envs = settings.num_envs
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, settings), daemon=True,
                                        name="synthmatch-env")
        self._process.start()
        child.close()
        self._pending = False
        self._receive()  # the environment was built, or its error is raised here

    def reset(self, seed: int) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
        """Start new episodes everywhere; environment i is seeded with ``seed + i``."""
        self._connection.send(("reset", seed))
        result: tuple[dict[str, npt.NDArray[Any]], dict[str, Any]] = self._receive()
        return result

    def step_async(self, actions: npt.NDArray[np.floating], probe: ProbeSettings | None = None) -> None:
        """Send ``actions[num_envs, P]`` and return while the worker steps (and probes first, given ``probe``)."""
        if self._pending:
            raise RuntimeError("step_async called twice without step_wait")
        self._connection.send(("step", (np.asarray(actions, dtype=np.float32), probe)))
        self._pending = True

    def step_wait(self) -> StepResult:
        """The step started by :meth:`step_async`: obs, rewards, terminated, truncated, infos (see the vector env)."""
        if not self._pending:
            raise RuntimeError("step_wait called without step_async")
        self._pending = False
        result: StepResult = self._receive()
        return result

    def step(self, actions: npt.NDArray[np.floating], probe: ProbeSettings | None = None) -> StepResult:
        """:meth:`step_async` then :meth:`step_wait`."""
        self.step_async(actions, probe)
        return self.step_wait()

    def close(self) -> None:
        """Stop the worker process."""
        if self._process.is_alive():
            try:
                if self._pending:
                    self._connection.recv()
                self._connection.send(("close", None))
            except (BrokenPipeError, EOFError, OSError):
                pass
            self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._connection.close()

    def __enter__(self) -> EnvWorker:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _receive(self) -> Any:
        """The worker's answer; its exception, with the worker's traceback, as a RuntimeError here."""
        try:
            status, payload = self._connection.recv()
        except EOFError as err:
            raise RuntimeError(f"the environment worker (pid {self._process.pid}) exited unexpectedly") from err
        if status == "error":
            raise RuntimeError(f"the environment worker failed:\n{payload}")
        return payload
