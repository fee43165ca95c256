"""The training configuration: one dataclass tree, loaded from TOML, logged whole with every run.

A configuration file holds the top-level fields of :class:`TrainConfig` and one table per section
(``[networks]``, ``[imitation]``, ``[pairs]``, ``[rl]``, and the algorithms' own tables ``[sac]``, ``[td3]``,
``[probe]``).
Every key is checked by the loader both wings share (:mod:`synthmatch.settings_loader`): an unknown one is
refused with a "did you mean", a value of the wrong type or range names the file, the key, the value and the
valid range. ``--config`` takes a path or the name of a shipped configuration
(``training/configs/NAME.toml``: ``builtin`` is the shipped model's, ``smoke`` a tiny one for tests).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from synthmatch.environment_registration import MAX_EPISODE_STEPS
from synthmatch.name_hints import did_you_mean
from synthmatch.settings_loader import load_settings, read_toml
from synthmatch.training.algorithm import ALGORITHMS
from synthmatch.training.augment import AugmentConfig
from synthmatch.training.environment import DEFAULT_MAX_STEP
from synthmatch.training.networks import NetworkConfig
from synthmatch.training.probe import ProbeConfig
from synthmatch.training.sac import SacConfig
from synthmatch.training.targets import DATASET_HELD_OUT_EVERY
from synthmatch.training.td3 import Td3Config


@dataclass(frozen=True)
class ImitationConfig:
    """The imitation warm start: behaviour cloning on the oracle's episodes, then DAgger rounds."""

    bc_samples: int = 16384
    """States visited by the oracle (random start, straight to the known target) for behaviour cloning."""
    bc_updates: int = 3000
    """Gradient steps of behaviour cloning on those states."""
    dagger_rounds: int = 4
    """Rounds of: roll out the policy, label every visited state with the oracle step, aggregate, retrain."""
    dagger_samples: int = 8192
    """States visited by the policy in each DAgger round."""
    dagger_updates: int = 1500
    """Gradient steps on the aggregated states after each DAgger round."""
    batch_size: int = 128
    """States per gradient step."""
    lr: float = 1e-3
    """Adam learning rate of the observer and the policy."""
    hindsight: float = 0.5
    """Fraction of each minibatch whose target is another visited state at the same note (see Demonstrations)."""
    validation_samples: int = 1024
    """Held-out oracle states on which the action MSE is reported (drawn from a stream training never uses)."""
    initial_std: float = 0.1
    """Pre-tanh std the policy's log-std head is taught to give: SAC's exploration when RL starts."""

    def __post_init__(self) -> None:
        _check_positive(self, ("bc_samples", "bc_updates", "batch_size", "lr", "validation_samples", "initial_std"))
        _check_positive(self, ("dagger_rounds", "dagger_samples", "dagger_updates"), allow_zero=True)
        if self.bc_samples < self.batch_size:
            raise ValueError(f"bc_samples ({self.bc_samples}) must be at least batch_size ({self.batch_size})")
        if not 0.0 <= self.hindsight <= 1.0:
            raise ValueError(f"hindsight {self.hindsight} is outside [0, 1]: it is a fraction of each minibatch")


@dataclass(frozen=True)
class PairsConfig:
    """Imitation from a data set's recordings (``dataset``): pairs of recordings, one the target, one the current.

    The minibatches' size and the learning rate are ``[imitation]``'s ``batch_size`` and ``lr``.
    """

    updates: int = 8000
    """Gradient steps on pairs drawn from the training recordings."""
    held_out_every: int = DATASET_HELD_OUT_EVERY
    """Recordings whose patch number is a multiple of this are held out for validation (never trained on)."""
    validation_pairs: int = 1024
    """Fixed pairs of held-out recordings on which the action MSE is reported."""
    checkpoint_updates: int = 1000
    """Updates between two checkpoints within the stage (an interrupted run resumes from the newest)."""

    def __post_init__(self) -> None:
        _check_positive(self, ("updates", "validation_pairs", "checkpoint_updates"))
        if self.held_out_every < 2:
            raise ValueError(f"held_out_every must be at least 2 (every 2nd recording held out), got "
                             f"{self.held_out_every}")


@dataclass(frozen=True)
class RLConfig:
    """The reinforcement-learning fine-tune after imitation (the algorithm's own settings are in its table)."""

    total_env_steps: int = 200_000
    """Transitions collected in the RL stage (each vector step adds num_envs of them); 0 skips the stage."""
    batch_size: int = 256
    """Transitions per gradient update."""
    buffer_size: int = 100_000
    """Replay buffer capacity in transitions (three float16 mels each: about 24 KB)."""
    learning_starts: int = 4096
    """Transitions collected with the imitation policy (exploring) before the first update."""
    updates_per_step: int = 1
    """Gradient updates per vector-environment step (of num_envs transitions)."""
    recordings: str = ""
    """Folder of recordings (audio files) that RL episodes may take as targets: sounds no patch may reproduce,
    which only RL can learn from (imitation needs the target's patch). "" for none; a relative path is taken
    from the working directory. ``scripts/make-real-targets.sh --training`` renders a set."""
    recording_share: float = 0.0
    """Share of RL episodes whose target is one of ``recordings`` (the rest are random patches)."""

    def __post_init__(self) -> None:
        _check_positive(self, ("batch_size", "buffer_size", "learning_starts", "updates_per_step"))
        _check_positive(self, ("total_env_steps",), allow_zero=True)
        if not 0.0 <= self.recording_share <= 1.0:
            raise ValueError(f"recording_share {self.recording_share} is outside [0, 1]: it is a share of episodes")
        if self.recording_share > 0.0 and not self.recordings:
            raise ValueError(f"recording_share is {self.recording_share} but recordings is empty; give a folder")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; saved as RUN_DIR/config.toml and in TensorBoard's text tab."""

    seed: int = 0
    """Seed of every random stream: networks, episodes, exploration, minibatches."""
    synth: str = "builtin"
    """Synth definition name or TOML path (the command's --synth replaces it)."""
    dataset: str = ""
    """Data set folder (``synthmatch dataset``) to imitate pairs of recordings from before any other stage; "" for
    none (the command's --dataset replaces it). A relative path is taken from the working directory."""
    algo: str = "sac"
    """RL algorithm after imitation, a key of ALGORITHMS (the command's --algo replaces it)."""
    num_envs: int = 16
    """Episodes stepped together in one batched render."""
    max_step: float = DEFAULT_MAX_STEP
    """Largest change of a normalised parameter per step (action +-1); exported with the model."""
    episode_steps: int = MAX_EPISODE_STEPS
    """Steps after which an episode is truncated (the agent's matching budget)."""
    validation_episodes: int = 64
    """Seeded held-out episodes (default start patch) on which distance and success are reported."""
    eval_interval: int = 20_000
    """RL transitions between two validations (imitation validates after BC and after each DAgger round)."""
    checkpoint_interval: int = 20_000
    """RL transitions between two checkpoints (imitation checkpoints after BC and after each DAgger round)."""
    networks: NetworkConfig = field(default_factory=NetworkConfig)
    """Sizes of the observer, the policy and the critics."""
    imitation: ImitationConfig = field(default_factory=ImitationConfig)
    """The imitation warm start."""
    pairs: PairsConfig = field(default_factory=PairsConfig)
    """Imitation from the data set's recordings (used when ``dataset`` is given)."""
    rl: RLConfig = field(default_factory=RLConfig)
    """The RL fine-tune's loop."""
    sac: SacConfig = field(default_factory=SacConfig)
    """SAC's own settings (used when algo is "sac")."""
    td3: Td3Config = field(default_factory=Td3Config)
    """TD3's own settings (used when algo is "td3")."""
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    """The probed policy gradient's own settings (used when algo is "probe")."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """Target augmentation in every stage's episodes (``share`` 0, the default: none)."""

    def __post_init__(self) -> None:
        _check_positive(self, ("num_envs", "episode_steps", "validation_episodes", "eval_interval",
                               "checkpoint_interval"))
        if not 0.0 < self.max_step <= 1.0:
            raise ValueError(f"max_step {self.max_step} is outside (0, 1]: it is a fraction of each parameter's range")
        if self.algo not in ALGORITHMS:
            raise ValueError(f"algo {self.algo!r} is not an algorithm{did_you_mean(self.algo, ALGORITHMS)}")

    @property
    def algorithm_config(self) -> Any:
        """The chosen algorithm's own settings (``sac``, ``td3`` or ``probe``)."""
        return getattr(self, self.algo)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (TOML- and JSON-ready)."""
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        """The whole configuration as TOML text that :func:`load_config` reads back to an equal config."""
        return tomli_w.dumps(self.to_dict())


def shipped_config_names() -> list[str]:
    """Names of the configurations shipped in training/configs (without .toml)."""
    folder = resources.files("synthmatch.training").joinpath("configs")
    return sorted(entry.name.removesuffix(".toml") for entry in folder.iterdir() if entry.name.endswith(".toml"))


def find_config(name_or_path: str | Path) -> Path:
    """The configuration file a ``--config`` value means: an existing path, else a shipped config's name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    name = str(name_or_path)
    if name in shipped_config_names():
        return Path(str(resources.files("synthmatch.training").joinpath("configs", f"{name}.toml")))
    raise FileNotFoundError(
        f"training config {name!r} is neither a file nor a shipped config"
        f"{did_you_mean(name, shipped_config_names())}; give a path to a TOML file or a shipped name"
    )


def load_config(name_or_path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """The configuration in a TOML file (or shipped config name; None: the defaults), top-level keys overridden.

    ``overrides`` whose value is None are ignored, so command-line options left out keep the file's values.
    """
    data: dict[str, Any] = {}
    where = "the default training config"
    if name_or_path is not None:
        path = find_config(name_or_path)
        where, data = str(path), read_toml(path)
    data.update({key: value for key, value in overrides.items() if value is not None})
    return load_settings(TrainConfig, data, where)


def _check_positive(config: object, names: tuple[str, ...], allow_zero: bool = False) -> None:
    """A ValueError naming the first of ``names`` that is not > 0 (or >= 0 with ``allow_zero``)."""
    for name in names:
        value = getattr(config, name)
        if value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ValueError(f"{name} must be {bound}, got {value}")
