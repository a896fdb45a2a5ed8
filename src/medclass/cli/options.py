"""Option types shared by several commands (the split options of ``split``, ``train`` and ``tune``).

Each is an ``Annotated`` type, so a command declares ``strategy: StrategyOpt = None`` and the flag name,
help text and validation are defined once. ``None`` means "not given": the config's value stands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

StrategyOpt = Annotated[
    str | None,
    typer.Option(
        "--strategy",
        help="auto | stratified | sorted-id | kfold | group | predefined (auto: the layout's own splits, "
        "else stratified).",
    ),
]
ValFracOpt = Annotated[float | None, typer.Option("--val-frac", help="Fraction of images for validation.")]
TestFracOpt = Annotated[float | None, typer.Option("--test-frac", help="Fraction of images for test.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed.")]
FoldsOpt = Annotated[int | None, typer.Option("--folds", help="Number of folds for --strategy kfold.")]
GroupRegexOpt = Annotated[
    str | None,
    typer.Option("--group-regex", help="Regex on the file name giving the patient/group id (group 1)."),
]
AllowLeakageOpt = Annotated[
    bool,
    typer.Option(
        "--allow-duplicate-leakage",
        help="Let exact/near duplicates fall into different splits (off: they are kept together).",
    ),
]
NearDupOpt = Annotated[
    int | None,
    typer.Option(
        "--near-dup-distance", help="Perceptual-hash Hamming distance that counts as near-duplicate."
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override any config key: --set optim.lr=0.001 (repeatable)."),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML config file.")]


def split_values(
    strategy: str | None = None,
    val_frac: float | None = None,
    test_frac: float | None = None,
    seed: int | None = None,
    folds: int | None = None,
    group_regex: str | None = None,
    allow_duplicate_leakage: bool = False,
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
        "split.allow_duplicate_leakage": True if allow_duplicate_leakage else None,
        "split.near_dup_distance": near_dup_distance,
    }
    return {key: value for key, value in values.items() if value is not None}
