"""Option types shared by several commands: train's data and shortcut flags (``train``, ``tune``,
``compare``) and the split options (``split``, ``train``, ``tune``).

Each is an ``Annotated`` type, so a command declares ``strategy: StrategyOpt = None`` and the flag name,
help text and validation are defined once. ``None`` means "not given": the config's value stands. An option
that sets a config key is made by :func:`config_option`: the default shown in ``--help`` and the allowed
range come from the pydantic schema, so the CLI and YAML accept the same values.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from rich.markup import escape

from medclass.config.schema import Config

# The duplicate finder's own default (medclass.data.duplicates.DEFAULT_NEAR_DUP_DISTANCE, a module that
# imports scipy and so stays out of `--help`); tests/cli/test_help.py keeps the two equal.
NEAR_DUP_DEFAULT = 2


def schema_field(key: str) -> FieldInfo:
    """The pydantic field of a dotted config key, e.g. ``trainer.epochs``."""
    model: Any = Config
    *sections, name = key.split(".")
    for section in sections:
        model = model.model_fields[section].annotation
    return model.model_fields[name]


@cache
def _defaults() -> dict[str, Any]:
    return Config().model_dump(mode="json")


def schema_default(key: str) -> Any:
    """The default value of a dotted config key."""
    value: Any = _defaults()
    for part in key.split("."):
        value = value[part]
    return value


def _bounds(field: FieldInfo) -> str:
    """The field's numeric range as text (``>= 1``, ``>= 0, < 1``), looking inside ``X | None`` too."""
    metadata = list(field.metadata)
    for arg in getattr(field.annotation, "__args__", ()):
        metadata += [m for info in getattr(arg, "__metadata__", ()) for m in getattr(info, "metadata", [])]
    symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    return ", ".join(f"{symbols[a]} {getattr(m, a)}" for m in metadata for a in symbols if hasattr(m, a))


def _default_text(key: str, flag: str, described: str | None) -> str:
    """``[default: 15]`` for a schema value, ``[default: (the run's)]`` for a described one (click's style)."""
    value = schema_default(key)
    if described is not None:
        text = f"({described})"
    elif isinstance(value, bool):
        on, off = (name.removeprefix("--") for name in flag.split("/"))
        text = on if value else off
    else:
        text = "none" if value is None else str(value)
    return escape(f"[default: {text}]")  # Typer renders help text as rich markup


@cache
def _validator(key: str) -> TypeAdapter:
    """The schema's check of one key, built when first used (building it costs more than parsing a flag)."""
    field = schema_field(key)
    return TypeAdapter(Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation)


def config_option(key: str, *names: str, help: str, default: str | None = None, **kwargs: Any) -> Any:
    """A ``typer.Option`` that sets config ``key``: help shows its schema default and range, and a value
    outside the range is a usage error naming the flag (exit 2).

    ``default`` describes the default in words where it is not the schema's value (e.g. "the run's").
    """
    field = schema_field(key)

    def check(value: Any) -> Any:
        if value is None:
            return None
        try:
            return _validator(key).validate_python(value)
        except ValidationError as exc:
            raise typer.BadParameter(exc.errors()[0]["msg"]) from None

    bounds = _bounds(field)
    return typer.Option(
        *names,
        help=f"{help}{f' ({bounds})' if bounds else ''} {_default_text(key, names[0], default)}",
        show_default=False,  # in the help text: Typer would put a string default in parentheses
        callback=check,
        **kwargs,
    )


StrategyOpt = Annotated[
    str | None,
    config_option(
        "split.strategy",
        "--strategy",
        help="auto | stratified | sorted-id | kfold | group | predefined (auto: the layout's own splits, "
        "else stratified).",
    ),
]
ValFracOpt = Annotated[
    float | None,
    config_option(
        "split.val_frac",
        "--val-frac",
        help="Fraction of images for validation.",
        default="0.15; 0.10 of train when the data set has its own test split",
    ),
]
TestFracOpt = Annotated[
    float | None, config_option("split.test_frac", "--test-frac", help="Fraction of images for test.")
]
SeedOpt = Annotated[
    int | None, config_option("split.seed", "--seed", help="Split seed.", default="the run's seed")
]
FoldsOpt = Annotated[
    int | None, config_option("split.folds", "--folds", help="Number of folds for --strategy kfold.")
]
FoldOpt = Annotated[
    int | None, config_option("split.fold", "--fold", help="Validation fold with --strategy kfold.")
]
GroupRegexOpt = Annotated[
    str | None,
    config_option(
        "split.group_regex",
        "--group-regex",
        help="Regex on the file name giving the patient/group id (group 1).",
    ),
]
AllowLeakageOpt = Annotated[
    bool | None,
    config_option(
        "split.allow_duplicate_leakage",
        "--allow-duplicate-leakage/--no-allow-duplicate-leakage",
        help="Let exact/near duplicates fall into different splits (off: they are kept together).",
    ),
]
NearDupOpt = Annotated[
    int | None,
    config_option(
        "split.near_dup_distance",
        "--near-dup-distance",
        help="Perceptual-hash Hamming distance that counts as near-duplicate.",
        default=f"{NEAR_DUP_DEFAULT}, the duplicate finder's",
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override any config key: --set optim.lr=0.001 (repeatable).", show_default="none"
    ),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML config file.", show_default="the built-in defaults")
]


def split_values(
    strategy: str | None = None,
    val_frac: float | None = None,
    test_frac: float | None = None,
    seed: int | None = None,
    folds: int | None = None,
    group_regex: str | None = None,
    allow_duplicate_leakage: bool | None = None,
    near_dup_distance: int | None = None,
) -> dict[str, Any]:
    """Dotted config values for the split flags that were given (unset flags are left out)."""
    values = {
        "split.strategy": strategy,
        "split.val_frac": val_frac,
        "split.test_frac": test_frac,
        "split.seed": seed,
        "split.folds": folds,
        "split.group_regex": group_regex,
        "split.allow_duplicate_leakage": allow_duplicate_leakage,
        "split.near_dup_distance": near_dup_distance,
    }
    return {key: value for key, value in values.items() if value is not None}


DataOpt = Annotated[
    str | None, config_option("data.path", "--data", help="Data folder (any layout) or CSV manifest.")
]
SplitsOpt = Annotated[
    Path | None,
    typer.Option("--splits", help="Use this splits.csv instead of splitting.", show_default="split the data"),
]
ModelOpt = Annotated[
    str | None, config_option("model.name", "--model", help="Model name, timm:<name> or cnn.")
]
ImageSizeOpt = Annotated[
    int | None, config_option("data.image_size", "--image-size", help="Input size in pixels.")
]
EpochsOpt = Annotated[int | None, config_option("trainer.epochs", "--epochs", help="Maximum epochs.")]
BatchSizeOpt = Annotated[int | None, config_option("data.batch_size", "--batch-size", help="Batch size.")]
LrOpt = Annotated[float | None, config_option("optim.lr", "--lr", help="Learning rate.")]
LabelColumnsOpt = Annotated[
    str | None,
    typer.Option(
        "--label-columns",
        help="Multi-label: the label names, comma-separated (a,b,c): the 0/1 columns of the CSV manifest, the "
        "allowed names of its 'labels' column, or an npz's label columns (config: data.labels).",
        show_default="single-label, or every name in a 'labels' column",
    ),
]


def label_columns_value(text: str | None) -> list[str] | None:
    """``data.labels`` of ``--label-columns a,b,c`` (None when not given)."""
    return None if text is None else [part.strip() for part in text.split(",")]


RunSeedOpt = Annotated[
    int | None, config_option("seed", "--seed", help="Seed of splitting, shuffling and init.")
]


def train_values(
    data: str | None = None,
    splits: Path | None = None,
    model: str | None = None,
    image_size: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Dotted config values for the data and shortcut flags that were given (unset flags are left out)."""
    values = {
        "data.path": data,
        "split.splits_file": str(splits) if splits else None,
        "model.name": model,
        "data.image_size": image_size,
        "trainer.epochs": epochs,
        "data.batch_size": batch_size,
        "optim.lr": lr,
        "seed": seed,
    }
    return {key: value for key, value in values.items() if value is not None}


# The rule of medclass.runs for every file a command writes: an existing one is replaced only when asked.
OverwriteFileOpt = Annotated[
    bool,
    typer.Option("--overwrite/--no-overwrite", help="Replace the output file when it already exists."),
]
