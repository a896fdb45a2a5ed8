"""Experiment grids for ``medclass compare``: GRID.yaml, the runs it means, and running them resumably.

GRID.yaml::

    base: base.yaml               # a config file (relative to GRID.yaml) or an inline config mapping
    variants:                     # name -> overrides (dotted keys or train's flag names, as with --set)
      baseline: {}
      l2_penalty: {loss.l2_penalty: 0.001}
      dropout_head: {model.drop_rate: 0.5}
    models: [resnet18, vgg11]     # and/or a list of models (with variants: every variant x every model)
    repeats: 1                    # seeds per variant: seed, seed+1, ... (or give `seeds: [1, 2, 3]`)

Every run goes to ``<out>/<variant>/seed-<seed>``. A run whose folder holds ``test_metrics.json`` is finished
and is not run again; one with ``checkpoints/last.ckpt`` is resumed. A finished or interrupted run whose saved
config differs from what the grid now says is an error (never silently mixed into the table, never deleted).

Repeats change the training seed only: unless the base config fixes ``split.seed``, it is set to the base seed,
so every run of the grid is tested on the same images (what the paired McNemar test needs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from medclass.campaigns.search_space import apply_values
from medclass.config import (
    Config,
    apply_overrides,
    build_config,
    config_to_dict,
    quote,
    read_config_tree,
    read_yaml,
    resolve_key,
    set_dotted,
)
from medclass.runs import CONFIG_FILE, TEST_METRICS_FILE, RunLayout
from medclass.runs.campaign_layout import ComparisonLayout
from medclass.utils.console import default_console
from medclass.utils.errors import ConfigError, RunDirError

GRID_KEYS = ("name", "base", "variants", "models", "repeats", "seeds")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
# Keys (dotted) that legitimately differ between the saved config of a run and the grid's plan of it: where it
# was written, and what the run resolved on its own (the pretrained weights it found, or none offline).
_IGNORED_KEYS = ("out", "name", "model.pretrained_source")

RunState = Literal["done", "resume", "new"]


@dataclass(frozen=True)
class Grid:
    """A parsed GRID.yaml.

    Attributes:
        name: the grid's name (default: the file's stem).
        base: the base config tree.
        variants: variant name -> ``{dotted key: value}`` overrides, in file order.
        seeds: training seeds of the repeats (empty: the base config's seed, ``repeats`` times).
        repeats: runs per variant.
        source: the file, for error messages.
    """

    name: str
    base: dict[str, Any]
    variants: dict[str, dict[str, Any]]
    seeds: tuple[int, ...] = ()
    repeats: int = 1
    source: str = "grid"


@dataclass(frozen=True)
class PlannedRun:
    """One training of the grid."""

    variant: str
    seed: int
    run_dir: Path
    config: Config


def parse_grid(raw: Mapping[str, Any], source: str = "grid", base_dir: Path | None = None) -> Grid:
    """Build a :class:`Grid` from the content of GRID.yaml.

    Args:
        raw: the YAML mapping.
        source: the file name for messages; its stem is the default grid name.
        base_dir: folder that a ``base: file.yaml`` is relative to.

    Raises:
        ConfigError: naming the key and what is expected.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping with base and variants and/or models")
    unknown = sorted(set(raw) - set(GRID_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown} (allowed: {', '.join(GRID_KEYS)})")
    base = _base_tree(raw.get("base", {}), source, base_dir)
    variants = _variants(raw.get("variants"), source)
    models = raw.get("models")
    if models is not None:
        if not isinstance(models, Sequence) or isinstance(models, str) or not models:
            raise ConfigError(f"{source}: models: expected a non-empty list of model names")
        by_model = {str(m): {"model.name": str(m)} for m in models}
        if variants:
            variants = {
                f"{variant}-{_safe(model)}": {**overrides, **model_override}
                for variant, overrides in variants.items()
                for model, model_override in by_model.items()
            }
        else:
            variants = {_safe(model): override for model, override in by_model.items()}
    if not variants:
        raise ConfigError(f"{source}: give `variants` (name -> overrides) and/or `models` (a list)")
    for name in variants:
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"{source}: variant name {quote(name)}: use letters, digits, '_', '-', '.' or '+'"
            )
    seeds = raw.get("seeds") or ()
    if (
        not isinstance(seeds, Sequence)
        or isinstance(seeds, str)
        or not all(isinstance(s, int) for s in seeds)
    ):
        raise ConfigError(f"{source}: seeds: expected a list of integers, got {quote(seeds)}")
    repeats = raw.get("repeats", len(seeds) or 1)
    if not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"{source}: repeats = {quote(repeats)}: expected an integer >= 1")
    name = str(raw.get("name") or Path(source).stem)
    return Grid(name, base, variants, tuple(seeds), repeats, source)


def load_grid(path: str | Path) -> Grid:
    """Read GRID.yaml (see the module docstring)."""
    path = Path(path)
    return parse_grid(read_yaml(path), source=str(path), base_dir=path.parent)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "-", text)


def _base_tree(base: Any, source: str, base_dir: Path | None) -> dict[str, Any]:
    if isinstance(base, str):
        path = Path(base)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return read_config_tree(path)
    if isinstance(base, Mapping):
        return dict(base)
    raise ConfigError(f"{source}: base: expected a config file name or a config mapping, got {quote(base)}")


def _variants(raw: Any, source: str) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: variants: expected a mapping of variant name -> overrides")
    variants = {}
    for name, overrides in raw.items():
        if overrides is None:
            overrides = {}
        if not isinstance(overrides, Mapping):
            raise ConfigError(
                f"{source}: variants.{name}: expected a mapping of config keys to values, e.g. "
                "{model.drop_rate: 0.5}"
            )
        variants[str(name)] = {resolve_key(str(k)): v for k, v in overrides.items()}
    return variants


def plan_runs(
    grid: Grid,
    out_dir: str | Path,
    base_overrides: Sequence[str] = (),
    base_values: Mapping[str, Any] | None = None,
    repeats: int | None = None,
) -> list[PlannedRun]:
    """Every run of the grid, validated before anything trains.

    Args:
        grid: the parsed grid.
        out_dir: the comparison folder; run ``r`` of a variant goes to ``out_dir/<variant>/seed-<seed>``.
        base_overrides: ``--set`` strings applied to the base (variants are applied after them).
        base_values: flag values applied to the base (e.g. ``{"data.path": ...}``).
        repeats: seeds per variant (default: the grid's).

    Raises:
        ConfigError: a variant's config is invalid (named), or more repeats than listed seeds.
    """
    layout = ComparisonLayout(Path(out_dir))
    # Variants are applied to the base as written (not to its resolved form), so that e.g. a variant's
    # augment.preset still fills the augmentations its base did not set.
    base_tree = apply_overrides(grid.base, base_overrides, base_values)
    base_tree.pop("out", None)
    base_config = build_config(base_tree, source=grid.source)
    if base_config.split.seed is None:
        set_dotted(base_tree, "split.seed", base_config.seed)  # repeats vary training, never the test images
    count = repeats or grid.repeats
    if grid.seeds:
        if count > len(grid.seeds):
            raise ConfigError(
                f"{grid.source}: {count} repeats asked for but only {len(grid.seeds)} seeds listed"
            )
        seeds = list(grid.seeds[:count])
    else:
        seeds = [base_config.seed + r for r in range(count)]
    planned = []
    for variant, overrides in grid.variants.items():
        tree = apply_values(base_tree, overrides)
        for seed in seeds:
            run_dir = layout.run_dir(variant, seed)
            config = build_config(
                tree, values={"seed": seed, "out": str(run_dir)}, source=f"{grid.source}: variant {variant}"
            )
            planned.append(PlannedRun(variant, seed, run_dir, config))
    return planned


def config_differences(saved: Mapping[str, Any], planned: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between a run's saved config and the planned one (keys missing on
    either side, e.g. settings added by a newer medclass, and :data:`_IGNORED_KEYS` are not differences)."""
    differences = []
    for key in saved.keys() & planned.keys():
        name = f"{prefix}{key}"
        if name in _IGNORED_KEYS:
            continue
        a, b = saved[key], planned[key]
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            differences += config_differences(a, b, f"{name}.")
        elif a != b:
            differences.append(name)
    return sorted(differences)


def run_state(run: PlannedRun) -> RunState:
    """``done`` (has test_metrics.json), ``resume`` (has a last checkpoint) or ``new``.

    Raises:
        RunDirError: an existing run was made with another config (the differing keys are named).
    """
    saved_file = run.run_dir / CONFIG_FILE
    finished = (run.run_dir / TEST_METRICS_FILE).is_file()
    started = RunLayout(run.run_dir).last_checkpoint.is_file()
    if not (finished or started):
        return "new"
    saved = read_yaml(saved_file) if saved_file.is_file() else {}
    differences = config_differences(saved or {}, config_to_dict(run.config))
    if differences:
        raise RunDirError(
            f"{run.run_dir} was run with other settings ({', '.join(differences[:8])}"
            f"{', ...' if len(differences) > 8 else ''} differ from the grid): move or delete that folder, "
            "or pass another --out"
        )
    return "done" if finished else "resume"


def run_grid(
    planned: Sequence[PlannedRun],
    train_fn: Callable[..., Any],
    console: Console | None = None,
) -> dict[str, list[Path]]:
    """Train every planned run that is not finished (resuming interrupted ones); returns variant -> run dirs.

    Args:
        planned: from :func:`plan_runs`.
        train_fn: ``train_fn(config, overwrite=..., resume=..., console=...)``: :func:`medclass.api.train`
            (passed in, because the API layer sits above this package).
        console: where progress goes.
    """
    console = console or default_console()
    states = {run.run_dir: run_state(run) for run in planned}  # check every folder before training anything
    done = sum(state == "done" for state in states.values())
    console.print(f"[bold]{len(planned)} runs[/]: {done} finished already, {len(planned) - done} to run")
    runs: dict[str, list[Path]] = {}
    for i, run in enumerate(planned, start=1):
        state = states[run.run_dir]
        runs.setdefault(run.variant, []).append(run.run_dir)
        if state == "done":
            console.print(
                f"[{i}/{len(planned)}] {run.variant} seed {run.seed}: finished, kept ({run.run_dir})"
            )
            continue
        console.print(
            f"[bold][{i}/{len(planned)}] {run.variant} seed {run.seed}[/]: {state} in {run.run_dir}"
        )
        # A folder without a checkpoint is a run that stopped before its first epoch: start it afresh
        # (train's overwrite only ever replaces medclass run folders).
        train_fn(
            run.config,
            overwrite=state == "new" and run.run_dir.exists(),
            resume=state == "resume",
            console=console,
        )
        if not (run.run_dir / TEST_METRICS_FILE).is_file():
            raise RunDirError(
                f"{run.run_dir}: training finished without test metrics; compare needs a test split "
                "(split.test_frac > 0 or a test folder/CSV split)"
            )
    return runs
