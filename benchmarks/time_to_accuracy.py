"""Time to accuracy (issue 26): medclass runs against the hand-written loop, measured in one session.

    python benchmarks/time_to_accuracy.py OUT_DIR [--png docs/time_to_accuracy.png]

Reads what ``benchmarks/time_to_accuracy.sh OUT_DIR`` leaves: ``times.txt`` (``NAME: M min S s`` per step, the
loop's whole process included), ``loop/predictions_test.csv`` (the loop's prediction per test image), and per
medclass run ``NAME/predictions_test.csv``, ``NAME/config.yaml``, ``NAME.start`` (when its command started) and,
after ``medclass evaluate NAME --all-epochs``, ``NAME/epoch_metrics.csv``.

Prints the markdown table: test accuracy with a stratified bootstrap 95% CI (the same resampling for every row,
the loop included), McNemar's test against the loop on the same images (``b`` = images only the loop got right,
``c`` = only the run), the whole command's minutes and their ratio to the loop's. ``--png`` draws accuracy
against minutes: one point per finished command, and each run's per-epoch test accuracy at the time its epoch
checkpoint was written (a curve of where the minutes go; an epoch in the middle of a schedule is not a finished
shorter run).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import yaml
from ablation_table import correct, wall_minutes  # the readers of times.txt and predictions (sibling script)
from plot_recipe_accuracy import save_figure  # the figure finish of the recipe plot (a sibling script)

from medclass.evaluation.stats import mcnemar_test

matplotlib.use("Agg")
import matplotlib.pyplot as plt

LOOP = "loop"
RESAMPLES = 2000


def accuracy_ci(hits: pd.Series, labels: pd.Series, seed: int = 0) -> tuple[float, float]:
    """Stratified (by true class) percentile-bootstrap 95% CI of the accuracy ``hits.mean()``."""
    rng = np.random.default_rng(seed)
    groups = [hits[labels == label].to_numpy(dtype=float) for label in sorted(labels.unique())]
    total = sum(len(g) for g in groups)
    means = [
        sum(rng.choice(g, size=len(g), replace=True).sum() for g in groups) / total for _ in range(RESAMPLES)
    ]
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def settings(run: Path) -> str:
    """The run's size, epochs, schedule and the options that differ between the steps, in a few words."""
    config = yaml.safe_load((run / "config.yaml").read_text())
    trainer, data = config["trainer"], config["data"]
    words = [f"{data['image_size']} px", f"{trainer['epochs']} epochs", config["scheduler"]["name"]]
    resizing = trainer.get("progressive_resizing")
    if resizing:
        words.append(f"from {resizing['start_size']} px until {resizing['full_size_from']:.0%} of the epochs")
    if config["loss"].get("label_smoothing"):
        words.append(f"smoothing {config['loss']['label_smoothing']}")
    words.append(f"{data['channels']} channel{'s' if data['channels'] > 1 else ''}")
    precision = trained_precision(run)
    if precision:
        words.append(precision)
    if config.get("recipe"):
        words.insert(0, f"recipe {config['recipe']}")
    return ", ".join(words)


def trained_precision(run: Path) -> str | None:
    """The precision the run trained at, as its run line printed it (``cpu bf16-mixed``) in ``OUT/NAME.log``;
    None for a log from before the run line named it (those runs trained at 32-bit on the CPU)."""
    log = run.parent / f"{run.name}.log"
    found = (
        re.search(r"\| (?:cpu|cuda) (\S+), \d+ loader workers", log.read_text()) if log.is_file() else None
    )
    return found.group(1) if found else None


def labels_of(run: Path) -> pd.Series:
    return pd.read_csv(run / "predictions_test.csv", index_col="path")["label"].astype(str)


def table(out: Path) -> list[str]:
    minutes = wall_minutes(out)
    loop_hits = correct(out / LOOP)
    labels = labels_of(out / LOOP)
    lines = [
        "| run | settings | test accuracy [95% CI] | McNemar vs loop (b / c, p) | minutes | x loop |",
        "|---|---|---|---|---:|---:|",
    ]
    low, high = accuracy_ci(loop_hits, labels)
    loop_minutes = minutes[LOOP]
    lines.append(
        f"| loop | `benchmarks/hand_loop.py`: 128 px, 8 epochs, one-cycle, RGB | {loop_hits.mean():.3f} "
        f"[{low:.3f}, {high:.3f}] | | {loop_minutes:.1f} | 1.00 |"
    )
    for run in sorted(p.parent for p in out.glob("*/predictions_test.csv") if p.parent.name != LOOP):
        hits = correct(run).reindex(loop_hits.index)
        if hits.isna().any():
            raise SystemExit(f"{run}: its test images are not the loop's")
        hits = hits.astype(bool)
        test = mcnemar_test(loop_hits.to_numpy(), hits.to_numpy())
        low, high = accuracy_ci(hits, labels)
        wall = minutes.get(run.name)
        timing = f"{wall:.1f} | {wall / loop_minutes:.2f}" if wall is not None else "- | -"
        lines.append(
            f"| {run.name} | {settings(run)} | {hits.mean():.3f} [{low:.3f}, {high:.3f}] | "
            f"{test['b']} / {test['c']}, p = {test['p_value']:.2g} | {timing} |"
        )
    return lines


def epoch_curve(out: Path, run: Path) -> tuple[list[float], list[float]]:
    """(minutes since the command started, test accuracy) at the end of each kept epoch, if scored."""
    scores, start = run / "epoch_metrics.csv", out / f"{run.name}.start"
    if not scores.exists() or not start.exists():
        return [], []
    started = float(start.read_text())
    rows = pd.read_csv(scores)
    written = [(run / "checkpoints" / f"epoch={int(e):02d}.ckpt").stat().st_mtime for e in rows["epoch"]]
    return [(t - started) / 60 for t in written], rows["accuracy"].tolist()


def plot(out: Path, png: Path) -> None:
    minutes = wall_minutes(out)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in sorted(p.parent for p in out.glob("*/predictions_test.csv")):
        hits = correct(run)
        x, y = epoch_curve(out, run)
        line = ax.plot(x, y, lw=1, alpha=0.6, marker=".", ms=3)[0] if x else None
        color = line.get_color() if line else "black"
        if run.name in minutes:  # named in the legend: labels beside the dots overlap where runs tie
            ax.plot(minutes[run.name], hits.mean(), "o", color=color, ms=7, label=run.name)
    loop = minutes[LOOP]
    for ratio in (0.5, 0.8, 1.0):
        ax.axvline(loop * ratio, ls="--", lw=0.8, color="grey")
        ax.annotate(
            f"{ratio}x loop",
            (loop * ratio, 0.905),
            rotation=90,
            fontsize=8,
            xytext=(2, 0),
            textcoords="offset points",
        )
    ax.set_ylim(0.9, 1.0)
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    ax.set_xlabel("minutes since the command started (2 CPU cores)")
    ax.set_ylabel(f"test accuracy (n = {len(correct(out / LOOP))})")
    ax.set_title(
        "4-class brain MRI from scratch: accuracy against minutes\n(dots: finished commands; lines: "
        "each epoch's checkpoint)",
        fontsize=10,
    )
    save_figure(fig, ax, png)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--png", type=Path)
    args = parser.parse_args()
    print("\n".join(table(args.out)))
    if args.png:
        plot(args.out, args.png)


if __name__ == "__main__":
    main()
