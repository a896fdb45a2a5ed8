"""Search spaces for ``medclass tune``: parse and validate SPACE.yaml, suggest values, apply them to a config.

A space is a mapping from a config key (dotted, as with ``--set``, or one of train's short flag names, see
``medclass.config.ALIASES``) to a parameter spec::

    lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    batch_size: {type: categorical, choices: [16, 32]}
    trainer.patience: {type: int, low: 3, high: 8}
    model.cnn.blocks:                       # non-scalar choices: give each a name
      type: categorical
      choices:
        wide: [{out_channels: 64, kernel: 5}]
        deep: [{out_channels: 16}, {out_channels: 32}, {out_channels: 64}]

The file may instead hold ``params:`` (that mapping) plus ``scatter: [x, y]``, the two parameters of the 3D
scatter plot (default: the first two numeric ones).

Validation happens before any training: every key must exist in the config and every bound or choice must be a
valid value of it (checked against the base config), so a typo fails in a second, not after an hour of trials.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import optuna

from medclass.config import build_config, quote, read_yaml, resolve_key, set_dotted
from medclass.utils.errors import ConfigError

ParamKind = Literal["float", "int", "categorical"]
PARAM_KINDS: tuple[str, ...] = ("float", "int", "categorical")
_SPEC_FIELDS: dict[str, tuple[str, ...]] = {
    "float": ("type", "low", "high", "log", "step"),
    "int": ("type", "low", "high", "log", "step"),
    "categorical": ("type", "choices"),
}
_FILE_KEYS = ("params", "scatter")
# Optuna stores categorical choices in its database, so they must be scalars; other values get a name.
_SCALARS = (str, int, float, bool, type(None))
_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


@dataclass(frozen=True)
class Param:
    """One searched config key.

    Attributes:
        name: the name as written in the space file (``lr``); the Optuna parameter name.
        key: the dotted config key it sets (``optim.lr``).
        kind: ``float``, ``int`` or ``categorical``.
        low, high, log, step: bounds of a numeric parameter.
        choices: categorical label -> config value (labels are the values themselves when those are scalars).
    """

    name: str
    key: str
    kind: ParamKind
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: dict[Any, Any] = field(default_factory=dict)

    @property
    def numeric(self) -> bool:
        """True for int/float parameters and categoricals whose choices are all numbers."""
        if self.kind != "categorical":
            return True
        return all(isinstance(v, int | float) and not isinstance(v, bool) for v in self.choices)

    def suggest(self, trial: optuna.Trial) -> Any:
        """Draw this parameter in ``trial``; returns the config value (not the label)."""
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            step = int(self.step or 1)
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log, step=step)
        label = trial.suggest_categorical(self.name, list(self.choices))
        return self.choices[label]

    def value_of(self, stored: Any) -> Any:
        """The config value of a value stored by Optuna (a categorical label becomes its value)."""
        return self.choices[stored] if self.kind == "categorical" else stored

    def grid_values(self) -> list[Any]:
        """The values a grid search walks through.

        Raises:
            ConfigError: a float without ``step`` (a continuous range has no grid).
        """
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "float" and self.step is None:
            raise ConfigError(
                f"search space: {self.name}: the grid sampler needs a finite set of values; give `step` "
                "or make it {type: categorical, choices: [...]}"
            )
        step = self.step or 1
        count = math.floor((self.high - self.low) / step + 1e-9) + 1
        values = [self.low + i * step for i in range(count)]
        return [int(v) for v in values] if self.kind == "int" else [round(v, 12) for v in values]


@dataclass(frozen=True)
class SearchSpace:
    """The parameters of a study, in file order, and the two shown in the 3D scatter plot."""

    params: tuple[Param, ...]
    scatter: tuple[str, str] | None = None
    source: str = "search space"

    def __post_init__(self) -> None:
        if not self.params:
            raise ConfigError(f"{self.source}: no parameters to search")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ConfigError(f"{self.source}: no parameter {name!r} (parameters: {', '.join(self.names)})")

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """``{dotted key: config value}`` drawn for ``trial``."""
        return {p.key: p.suggest(trial) for p in self.params}

    def values_of(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``{dotted key: config value}`` of a finished trial's Optuna ``params``."""
        return {p.key: p.value_of(params[p.name]) for p in self.params if p.name in params}

    def grid(self) -> dict[str, list[Any]]:
        """The search space of :class:`optuna.samplers.GridSampler`."""
        return {p.name: p.grid_values() for p in self.params}

    def grid_size(self) -> int:
        return math.prod(len(values) for values in self.grid().values())

    def scatter_params(self) -> tuple[str, str] | None:
        """The two parameters of the 3D scatter: as given, else the first two numeric ones."""
        if self.scatter is not None:
            return self.scatter
        numeric = [p.name for p in self.params if p.numeric]
        return (numeric[0], numeric[1]) if len(numeric) >= 2 else None

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (kept with the study so a resumed run can check it is the same search)."""
        return {
            p.name: {
                "key": p.key,
                "type": p.kind,
                **(
                    {"choices": [str(c) for c in p.choices]}
                    if p.kind == "categorical"
                    else {"low": p.low, "high": p.high, "log": p.log, "step": p.step}
                ),
            }
            for p in self.params
        }


def apply_values(tree: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the config ``tree`` with each dotted key of ``values`` set (lists and dicts are copied)."""
    result = json.loads(json.dumps(dict(tree)))  # a deep copy that also rejects non-YAML values early
    for key, value in values.items():
        set_dotted(result, key, json.loads(json.dumps(value)))
    return result


def parse_space(raw: Mapping[str, Any], source: str = "search space") -> SearchSpace:
    """Build a :class:`SearchSpace` from the content of SPACE.yaml (no check against a config yet).

    Args:
        raw: the YAML mapping: ``{key: spec}`` or ``{params: {key: spec}, scatter: [x, y]}``.
        source: the file name, used in error messages.

    Raises:
        ConfigError: naming the parameter and what is allowed (unknown type or field, bad bounds, empty
            choices, a key given twice under two names, unknown scatter parameters).
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping of config keys to parameter specs")
    if "params" in raw:
        unknown = sorted(set(raw) - set(_FILE_KEYS))
        if unknown:
            raise ConfigError(
                f"{source}: unknown top-level key(s) {unknown} (allowed: {', '.join(_FILE_KEYS)})"
            )
        specs, scatter = raw["params"], raw.get("scatter")
        if not isinstance(specs, Mapping):
            raise ConfigError(f"{source}: params: expected a mapping of config keys to parameter specs")
    else:
        specs, scatter = raw, None
    params: list[Param] = []
    seen: dict[str, str] = {}
    for name, spec in specs.items():
        param = _parse_param(str(name), spec, source)
        if param.key in seen:
            raise ConfigError(f"{source}: {seen[param.key]} and {name} both set {param.key}")
        seen[param.key] = param.name
        params.append(param)
    space = SearchSpace(tuple(params), source=source)
    if scatter is not None:
        if not isinstance(scatter, Sequence) or isinstance(scatter, str) or len(scatter) != 2:
            raise ConfigError(f"{source}: scatter: expected two parameter names, e.g. [batch_size, lr]")
        for name in scatter:
            space.param(str(name))
        space = SearchSpace(space.params, (str(scatter[0]), str(scatter[1])), source)
    return space


def _parse_param(name: str, spec: Any, source: str) -> Param:
    where = f"{source}: {name}"
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping such as {{type: float, low: 0.0001, high: 0.01, log: true}}, "
            f"got {quote(spec)}"
        )
    kind = spec.get("type")
    if kind not in PARAM_KINDS:
        raise ConfigError(f"{where}: type = {quote(kind)}: must be one of {', '.join(PARAM_KINDS)}")
    unknown = sorted(set(spec) - set(_SPEC_FIELDS[kind]))
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {unknown} for type {kind} (allowed: {', '.join(_SPEC_FIELDS[kind])})"
        )
    key = resolve_key(name)
    if kind == "categorical":
        return Param(
            name=name, key=key, kind="categorical", choices=_parse_choices(spec.get("choices"), where)
        )
    low, high = _number(spec, "low", where), _number(spec, "high", where)
    log = spec.get("log", False)
    step = spec.get("step")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log = {quote(log)}: must be true or false")
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise ConfigError(f"{where}: low and high of an int parameter must be whole numbers")
    if low >= high:
        raise ConfigError(f"{where}: low = {low:g} must be below high = {high:g}")
    if log and low <= 0:
        raise ConfigError(f"{where}: log = true needs low > 0, got low = {low:g}")
    if step is not None:
        step = _number(spec, "step", where)
        if step <= 0:
            raise ConfigError(f"{where}: step = {step:g}: must be > 0")
        if log:
            raise ConfigError(f"{where}: step and log = true exclude each other (Optuna has no log grid)")
    return Param(name=name, key=key, kind=kind, low=low, high=high, log=log, step=step)


def _number(spec: Mapping[str, Any], field_name: str, where: str) -> float:
    value = _yaml_number(spec.get(field_name))
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"{where}: {field_name} = {quote(value)}: expected a number")
    return value


def _yaml_number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; such a string becomes the float it spells."""
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
        return float(value)
    return value


def _parse_choices(choices: Any, where: str) -> dict[Any, Any]:
    if isinstance(choices, Mapping):
        labelled = {str(label): value for label, value in choices.items()}
    elif isinstance(choices, Sequence) and not isinstance(choices, str):
        labelled = {}
        for value in map(_yaml_number, choices):
            label = value if isinstance(value, _SCALARS) else json.dumps(value, separators=(",", ":"))
            if label in labelled:
                raise ConfigError(f"{where}: choice {quote(label)} is listed twice")
            labelled[label] = value
    else:
        raise ConfigError(f"{where}: choices: expected a list of values or a mapping of names to values")
    if not labelled:
        raise ConfigError(f"{where}: choices is empty")
    return labelled


def load_space(path: str | Path) -> SearchSpace:
    """Read and parse SPACE.yaml (see the module docstring)."""
    return parse_space(read_yaml(path), source=str(path))


def check_space(space: SearchSpace, base_tree: Mapping[str, Any]) -> None:
    """Check every parameter against the base config: the key exists and each bound/choice is valid.

    Raises:
        ConfigError: ``<space file>: <name> = <value>: <what the config allows>``.
    """
    for param in space.params:
        if param.kind == "categorical":
            candidates = list(param.choices.items())
        else:
            low = int(param.low) if param.kind == "int" else param.low
            high = int(param.high) if param.kind == "int" else param.high
            candidates = [("low", low), ("high", high)]
        for label, value in candidates:
            try:
                build_config(apply_values(base_tree, {param.key: value}), source=space.source)
            except ConfigError as exc:
                raise ConfigError(
                    f"{space.source}: {param.name} ({param.key}) = {label}: not a valid value of the config\n"
                    f"{exc}"
                ) from None
