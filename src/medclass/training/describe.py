"""What a training run prints about itself: data, splits, model and settings, then the chosen decision."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.markup import escape

from medclass.config import Config
from medclass.inference.decision import Decision, MultilabelDecision
from medclass.training.fit import resolve_precision
from medclass.transforms.pipelines import describe_augment


def fmt(value: float | None) -> str:
    """A metric with 4 decimals, or ``-`` when it is undefined."""
    return "-" if value is None or not np.isfinite(value) else f"{value:.4f}"


def describe_choices(
    config: Config,
    report: dict[str, Any],
    counts: dict[str, dict[str, int]],
    classes: list[str],
    num_workers: int,
    console: Console,
    model: torch.nn.Module | None = None,
) -> None:
    """Print what the run will do: data, splits (``counts``: images per split and class), model and settings."""
    console.print(
        f"[bold]data[/] {report['data']} ({report['layout']}), classes {classes}, "
        f"{report['n_images']} images; skipped {len(report['skipped'])} unreadable"
    )
    labelled = report.get("multilabel")  # multi-label: counts are positive images per label
    for split in ("train", "val", "test"):
        if split in counts:
            images = labelled[split]["n"] if labelled and split in labelled else sum(counts[split].values())
            console.print(f"  {split:5s} {images:5d}  {'positives ' if labelled else ''}{counts[split]}")
    dup = report["duplicates"]
    console.print(
        f"  duplicates: {dup['exact']['groups']} exact and {dup['near']['groups']} near groups "
        f"(distance <= {dup['near_distance']}), {report['duplicate_policy']}"
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = resolve_precision(config.trainer.precision, model)
    ema = f" | EMA of the weights (decay {config.trainer.ema_decay:g})" if config.trainer.ema_decay else ""
    console.print(
        f"[bold]model[/] {config.model.name} ({config.data.channels} channel(s), {config.data.image_size} px, "
        f"pretrained: {config.model.pretrained_source or config.model.pretrained}) | {config.optim.name} "
        f"lr {config.optim.lr:g} "
        f"wd {config.optim.weight_decay:g} | {config.scheduler.name} | batch {config.data.batch_size} | "
        f"{config.trainer.stopping_rule()}{ema} | {device} {precision}, {num_workers} loader workers"
    )
    console.print(f"[bold]augment[/] {describe_augment(config.augment)}", highlight=False)


def describe_decision(decision: Decision, console: Console) -> None:
    """Print the temperature and threshold chosen on the validation split, when any."""
    if decision.temperature != 1.0:
        console.print(
            f"[bold]calibration[/] temperature {decision.temperature:.3f} (val ECE {fmt(decision.ece_before)} -> "
            f"{fmt(decision.ece_after)})"
        )
    if decision.rule is not None:
        console.print(
            f"[bold]operating point[/] {decision.rule} on val: threshold {decision.threshold:.4f} on "
            f"P({escape(str(decision.positive_class))}) (val sensitivity {decision.sensitivity:.3f}, specificity "
            f"{decision.specificity:.3f}); predict decides with it"
        )


def describe_label_decision(rules: MultilabelDecision, console: Console) -> None:
    """Print a multi-label model's per-label temperatures (when calibrated, with each label's val ECE before and
    after) and thresholds chosen on the validation split."""
    if any(rule.temperature != 1.0 or rule.temperature_kept for rule in rules.rules.values()):
        console.print(
            "[bold]calibration[/] per-label temperature on val ("
            + ", ".join(
                f"{escape(name)} {rule.temperature:.3f} ECE {fmt(rule.ece_before)} -> {fmt(rule.ece_after)}"
                + (f" ({escape(rule.temperature_kept)})" if rule.temperature_kept else "")
                for name, rule in rules.rules.items()
            )
            + ")",
            highlight=False,
        )
    first = next(iter(rules.rules.values()))
    console.print(
        "per-label thresholds chosen on val ("
        + ", ".join(f"{escape(name)} {rule.threshold:.3g}" for name, rule in rules.rules.items())
        + f"; {first.rule})",
        highlight=False,
    )
