"""VST3 instruments hosted in-process through pedalboard, behind the :class:`~synthmatch.synths.Synth` interface.

A definition of kind ``vst3`` names the plugin file and, per parameter, the pedalboard name of the plugin
parameter it drives (``plugin_name``). :class:`Vst3Synth` loads the plugin once, binds each definition
parameter to the plugin's own parameter and renders one note per row of ``params[B, P]``.

Finding the plugin: the definition's path when that exists (``~`` and ``$VARS`` are expanded; an unset
variable leaves the path unresolved), else a bundle of the same name in the folders of
:func:`plugin_search_path`. A missing plugin raises :class:`PluginNotFound`, saying where it looked and how
to build or install it.

Setting parameters: the plugin sees only raw values in [0, 1]. When a plugin is bound, each parameter's
raw -> display-value curve is read from the plugin's own text for a grid of raw values, so a definition in
the plugin's units (``cutoff`` 0..100 %) maps onto the raw value exactly, whatever curve the plugin uses.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pedalboard
from pedalboard._pedalboard import _PythonExternalPluginMixin, to_python_parameter_name

from synthmatch.definitions import DefinitionError, Parameter, SynthDefinition
from synthmatch.name_hints import did_you_mean
from synthmatch.params import denormalise, step_index
from synthmatch.synths import DefinitionSynth, MidiValues, SynthUnavailable, check_notes, check_params

#: Environment variable naming a folder of VST3 bundles, searched first.
VST3_DIR_VAR = "SYNTHMATCH_VST3_DIR"

#: How to get the plugins whose build script ships with synthmatch, by bundle name.
BUILD_HINTS: dict[str, str] = {"Nekobi.vst3": "run scripts/build-nekobi.sh (it builds into .cache/vst3)"}

#: Raw values sampled to read a parameter's curve; pedalboard samples the same 1001 points.
RAW_GRID = np.linspace(0.0, 1.0, 1001)

#: Seconds of silence processed before the plugin's state is read, so that its processor has the new values.
PRESET_SETTLE_S = 0.01
#: Seconds pedalboard waits, at every reset, for a plugin to make a sound before rendering (its default is 10).
#: A patch that is silent (volume 0) waited all of it on every render; synthesis plugins sound at once.
WARM_UP_TIMEOUT_S = 0.5

#: The parameters that DPF adds to stand in for MIDI controllers; left out of "its parameters" in errors.
MIDI_STAND_IN = re.compile(r"^midi_ch_\d+_cc_\d+$")

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")

_CHECKOUT = Path(__file__).resolve().parents[2]

_LIBM = ctypes.CDLL(ctypes.util.find_library("m"))
#: Room for a C ``fenv_t`` (32 bytes on x86-64 glibc, 8 on aarch64).
_FENV_BYTES = 64


class PluginNotFound(SynthUnavailable):
    """A definition's VST3 plugin is not on this machine; the message says where it looked and what to do."""


def plugin_search_path() -> list[Path]:
    """Folders searched for a VST3 bundle by name, first match wins.

    ``$SYNTHMATCH_VST3_DIR``; ``<checkout>/.cache/vst3`` when synthmatch runs from a source checkout (where
    scripts/build-nekobi.sh builds); then the standard Linux VST3 folders ``~/.vst3``, ``/usr/local/lib/vst3``
    and ``/usr/lib/vst3``.
    """
    folders = [Path(os.environ[VST3_DIR_VAR]).expanduser()] if os.environ.get(VST3_DIR_VAR) else []
    if (_CHECKOUT / "pyproject.toml").is_file():
        folders.append(_CHECKOUT / ".cache" / "vst3")
    folders += [Path.home() / ".vst3", Path("/usr/local/lib/vst3"), Path("/usr/lib/vst3")]
    return folders


def find_plugin(definition: SynthDefinition) -> Path:
    """The plugin file of a ``vst3`` definition: its path if that exists, else the same name on the search path."""
    if definition.plugin_path is None:
        raise ValueError(f"{definition.name} is a {definition.kind} synth, not a vst3 one; it names no plugin")
    given = definition.plugin_path
    if given.exists():
        return given
    candidates = [folder / given.name for folder in plugin_search_path()]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    variable = os.environ.get(VST3_DIR_VAR)
    looked = "\n  ".join(str(c) for c in [given, *candidates])
    hint = BUILD_HINTS.get(given.name, f"install {given.name} into one of those folders")
    raise PluginNotFound(
        f"{definition.source or definition.name}: VST3 plugin {given.name} not found; looked at\n  {looked}\n"
        f"(${VST3_DIR_VAR} is {repr(variable) if variable else 'unset'}). To fix: {hint}, "
        f"or set ${VST3_DIR_VAR} to the folder that holds it."
    )


@contextmanager
def _without_parameter_scan() -> Iterator[None]:
    """Skip the scan of every parameter's values that pedalboard runs when it loads a plugin, for this block.

    pedalboard's Python layer reads the text of 1001 raw values of every parameter at load time; DPF
    plugins carry 2080 MIDI-controller stand-ins, so that scan takes ~17 s on a 2-core machine, and
    freeing its results takes as long again at exit. We bind only the few parameters a definition
    names (see :func:`_bind`), so the load itself takes ~0.02 s. ``plugin.parameters`` still works: pedalboard
    builds it on first use.
    """
    hook = "__set_initial_parameter_values__"
    original = getattr(_PythonExternalPluginMixin, hook)
    setattr(_PythonExternalPluginMixin, hook, lambda plugin, values: None)
    try:
        yield
    finally:
        setattr(_PythonExternalPluginMixin, hook, original)


@contextmanager
def _keeping_floating_point_state() -> Iterator[None]:
    """Restore this thread's floating-point environment (rounding, flush-to-zero) after the block.

    A plugin built with -ffast-math (DPF's default, so Nekobi's too) links crtfastmath.o, which turns on
    flush-to-zero and denormals-are-zero for the whole process when the plugin is loaded: every numpy result
    that should be a subnormal number would silently become 0 from then on.
    """
    environment = ctypes.create_string_buffer(_FENV_BYTES)
    _LIBM.fegetenv(environment)
    try:
        yield
    finally:
        _LIBM.fesetenv(environment)


def load_instrument(path: Path) -> pedalboard.VST3Plugin:
    """Load the VST3 instrument at ``path``; a clear error when it cannot be loaded or is an effect."""
    try:
        with _keeping_floating_point_state(), _without_parameter_scan():
            plugin = pedalboard.VST3Plugin(str(path), initialization_timeout=WARM_UP_TIMEOUT_S)
    except ImportError as err:
        raise SynthUnavailable(f"{path}: pedalboard could not load it as a VST3 plugin: {err}") from None
    if not plugin.is_instrument:
        raise SynthUnavailable(f"{path}: {plugin.name} is an effect, not an instrument; synthmatch plays notes")
    return plugin


@dataclass(frozen=True)
class ParameterBinding:
    """One definition parameter bound to one plugin parameter, with the table that maps it to raw values.

    Continuous: ``units`` holds the plugin's display values in increasing order and ``raws`` the raw value
    of each. Steps: ``units`` is None and ``raws[i]`` is the raw value in the middle of the plugin's i-th value.
    """

    parameter: Parameter
    index: int
    """Position of the plugin parameter in the plugin's parameter list."""
    raws: npt.NDArray[np.float64]
    units: npt.NDArray[np.float64] | None = None

    def raw(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Normalised values ``x[B]`` of this parameter -> the plugin's raw values ``[B]`` in [0, 1]."""
        if self.units is None:
            return self.raws[step_index(self.parameter, x)]
        return np.interp(denormalise(self.parameter, x), self.units, self.raws)


def _runs(texts: list[str]) -> list[tuple[str, float]]:
    """Runs of equal text along RAW_GRID: ``(text, raw value in the middle of the run)`` in raw order."""
    starts = [0] + [i for i in range(1, len(texts)) if texts[i] != texts[i - 1]]
    ends = starts[1:] + [len(texts)]
    return [(texts[s], float(RAW_GRID[s:e].mean())) for s, e in zip(starts, ends, strict=True)]


def _bind(definition: SynthDefinition, parameter: Parameter, index: int, plugin_parameter: Any) -> ParameterBinding:
    """Read the plugin parameter's curve and check that the definition's range or steps fit it."""
    where = f"{definition.source or definition.name} parameter {parameter.name!r} (plugin's {plugin_parameter.name!r})"
    texts = [plugin_parameter.get_text_for_raw_value(float(r)).strip() for r in RAW_GRID]
    if parameter.curve == "steps":
        runs = _runs(texts)
        if len(runs) != parameter.steps:
            raise DefinitionError(
                f"{where}: the definition has {parameter.steps} labels ({', '.join(parameter.labels)}) but the "
                f"plugin shows {len(runs)} values ({', '.join(t for t, _ in runs[:12])}); give one label per value"
            )
        return ParameterBinding(parameter, index, np.array([raw for _, raw in runs]))
    numbers = [_NUMBER.search(t) for t in texts]
    if not all(numbers):
        shown = ", ".join(sorted(set(texts))[:6])
        raise DefinitionError(
            f"{where}: the plugin shows this parameter as text ({shown}); declare it with curve = 'steps' and labels"
        )
    values = np.array([float(m.group()) for m in numbers if m is not None])
    units, inverse = np.unique(values, return_inverse=True)
    raws = np.bincount(inverse, weights=RAW_GRID) / np.bincount(inverse)
    tolerance = 1e-6 * (units[-1] - units[0])
    if parameter.min < units[0] - tolerance or parameter.max > units[-1] + tolerance:
        raise DefinitionError(
            f"{where}: range {parameter.min:g}..{parameter.max:g} {parameter.unit} is outside the plugin's "
            f"{units[0]:g}..{units[-1]:g}; set min and max within it"
        )
    return ParameterBinding(parameter, index, raws, units)


def bind_parameters(definition: SynthDefinition, plugin: pedalboard.VST3Plugin) -> tuple[ParameterBinding, ...]:
    """Bind every definition parameter to the plugin parameter its ``plugin_name`` names (pedalboard's name)."""
    plugin_parameters = plugin._parameters
    by_name: dict[str, int] = {}
    for index, plugin_parameter in enumerate(plugin_parameters):
        name = to_python_parameter_name(plugin_parameter)
        if name:
            by_name.setdefault(name, index)
    bindings = []
    for parameter in definition.parameters:
        name = parameter.plugin_name or parameter.name
        if name not in by_name:
            known = [n for n in by_name if not MIDI_STAND_IN.match(n)]
            raise DefinitionError(
                f"{definition.source or definition.name} parameter {parameter.name!r}: the plugin has no "
                f"parameter {name!r}{did_you_mean(name, known, list_known=False)} "
                f"Its parameters: {', '.join(known)}. Set plugin_name to one of them."
            )
        index = by_name[name]
        bindings.append(_bind(definition, parameter, index, plugin_parameters[index]))
    return tuple(bindings)


class Vst3Synth(DefinitionSynth):
    """A VST3 instrument played in-process through pedalboard: one note per row of normalised parameters.

    The plugin is loaded and its parameters are bound once, in the constructor. Every render resets the
    plugin first (pedalboard's ``reset=True``, which for an instrument re-creates the plugin instance with
    the current parameter values), so renders are independent: the same parameters give the same audio,
    nothing carries over, and a change is heard in the very next render. That re-creation is most of the
    cost of a render (~18 of ~20 ms for a 0.75 s Nekobi note), and JUCE allows it on the main thread only,
    so :meth:`render` must be called from the main thread (use worker processes, not threads, to parallelise).
    """

    def __init__(self, definition: SynthDefinition) -> None:
        if definition.kind != "vst3":
            raise ValueError(f"{definition.name} is a {definition.kind} synth; Vst3Synth plays kind 'vst3' only")
        self.definition = definition
        self.plugin_path = find_plugin(definition)
        self.plugin = load_instrument(self.plugin_path)
        self._bindings = bind_parameters(definition, self.plugin)


    def raw_values(self, params: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Normalised ``params[B, P]`` -> the plugin's raw values ``[B, P]`` in [0, 1] (curves and steps applied)."""
        x = check_params(self.definition, params)
        return np.stack([binding.raw(x[:, i]) for i, binding in enumerate(self._bindings)], axis=1)

    def displayed_values(self, params: npt.ArrayLike) -> dict[str, str]:
        """Set one patch ``params[P]`` (normalised) on the plugin -> ``{name: the plugin's own text for it}``.

        Shows what the plugin makes of a patch (``{"cutoff": "37.500000", "waveform": "Square", ...}``), to
        check a definition against the plugin's display.
        """
        plugin_parameters = self._set_patch(params, "displayed_values")
        return {binding.parameter.name: str(plugin_parameters[binding.index].string_value).strip()
                for binding in self._bindings}

    def preset_data(self, params: npt.ArrayLike) -> bytes:
        """One patch ``params[P]`` (normalised) as the plugin's state in .vstpreset format, for a DAW's instance.

        The values are set and a short silent block is processed first: the preset holds the state of the plugin's
        processor, which takes new values only when it processes. Main thread only, as :meth:`render`.
        """
        self._check_main_thread("writes its state")
        self._set_patch(params, "preset_data")
        with _keeping_floating_point_state():
            self.plugin.process([], duration=PRESET_SETTLE_S, sample_rate=self.sample_rate, num_channels=1, reset=False)
        return bytes(self.plugin.preset_data)

    def _set_patch(self, params: npt.ArrayLike, caller: str) -> Any:
        """Set one patch ``params[P]`` on the plugin's parameters; returns them (pedalboard's list)."""
        if np.ndim(params) != 1:
            raise ValueError(f"{self.definition.name}: {caller} takes one patch [P], got {np.shape(params)}")
        plugin_parameters = self.plugin._parameters
        for binding, value in zip(self._bindings, self.raw_values(params)[0], strict=True):
            plugin_parameters[binding.index].raw_value = float(value)
        return plugin_parameters

    def _check_main_thread(self, doing: str) -> None:
        """Refuse to run on another thread than the main one, which JUCE requires of a plugin's instance."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError(
                f"{self.definition.name}: a VST3 synth {doing} on the main thread only (pedalboard re-creates the "
                "plugin for every note, which JUCE allows only there); call it from the main thread, or run "
                "the synth in a worker process"
            )

    def render(
        self, params: npt.NDArray[np.floating], note: MidiValues | None = None, velocity: MidiValues | None = None
    ) -> npt.NDArray[np.float32]:
        """Render one note per row of ``params[B, P]`` (normalised [0, 1]) -> mono ``audio[B, N]`` float32.

        ``note`` and ``velocity`` are one int for every row or one per row, and default to the definition's;
        the note is held for ``note_seconds`` and the render lasts ``render_seconds`` (N samples at
        :attr:`sample_rate`).
        """
        self._check_main_thread("renders")
        raw = self.raw_values(params)
        notes, velocities = check_notes(self.definition, note, velocity, len(raw))
        settings = self.definition.note
        samples = settings.render_samples
        audio = np.empty((raw.shape[0], samples), dtype=np.float32)
        for row, values in enumerate(raw):
            # Fetched anew each time: every reset re-creates the plugin instance, and its parameter objects.
            plugin_parameters = self.plugin._parameters
            for binding, value in zip(self._bindings, values, strict=True):
                plugin_parameters[binding.index].raw_value = float(value)
            # Note on at 0 s, note off after note_seconds; typed loosely, as pedalboard's stub wants its own union.
            key = int(notes[row])
            midi: list[Any] = [(bytes([0x90, key, int(velocities[row])]), 0.0),
                               (bytes([0x80, key, 64]), settings.note_seconds)]
            with _keeping_floating_point_state():
                out = self.plugin.process(
                    midi, duration=samples / self.sample_rate, sample_rate=self.sample_rate, num_channels=1, reset=True
                )
            got = min(samples, out.shape[1])  # pedalboard may round duration * rate down by a sample
            audio[row, :got] = out[0, :got]
            audio[row, got:] = 0.0
        return audio
