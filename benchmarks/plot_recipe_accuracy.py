"""Test accuracy (with its 95% CI) against whole-command minutes for the runs of ``recipe_accuracy.sh``.

    python benchmarks/plot_recipe_accuracy.py OUT_DIR [OUT_DIR ...] [--only NAME ...]
        [--point "NAME=MINUTES,ACCURACY,CI_LOW,CI_HIGH" ...] [--png docs/recipe_accuracy.png]

Reads each ``OUT_DIR/times.txt`` (``NAME: M min S s`` per step, as ``recipe_accuracy.sh`` and
``recipe_ablation.sh`` write it) and each ``OUT_DIR/NAME/test_metrics.json``; a step without a finished run is
left out, and with ``--only`` so is every name not listed. ``--point`` adds a measured run whose folder is gone
(its figures as recorded in BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib
from ablation_table import wall_minutes  # the one reader of times.txt (a sibling script)

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def points(out: Path) -> list[tuple[str, float, float, float, float]]:
    """``(name, minutes, accuracy, ci_low, ci_high)`` of every finished step."""
    rows = []
    for name, minutes in wall_minutes(out).items():
        metrics = out / name / "test_metrics.json"
        if not metrics.exists():
            continue
        m = json.loads(metrics.read_text())
        ci = m["ci"]["accuracy"]
        rows.append((name, minutes, m["accuracy"], ci["ci_low"], ci["ci_high"]))
    return rows


def plot(rows: list[tuple[str, float, float, float, float]], png: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, minutes, acc, low, high in rows:
        ax.errorbar(minutes, acc, yerr=[[acc - low], [high - acc]], fmt="o", capsize=4)
        ax.annotate(name, (minutes, acc), textcoords="offset points", xytext=(6, 4), fontsize=8)
    # The targets: the default >= 0.97 in <= 15 min, the accurate recipe >= 0.985 in <= 30 min.
    for accuracy, minutes, label in ((0.97, 15, "default target"), (0.985, 30, "recipe target")):
        ax.plot([0, minutes, minutes], [accuracy, accuracy, 0], ls="--", lw=1, color="grey")
        ax.annotate(label, (minutes, accuracy), textcoords="offset points", xytext=(-70, 4), fontsize=8)
    ax.set_xlim(0, max(35, *(r[1] + 3 for r in rows)))
    ax.set_ylim(min(0.93, *(r[3] - 0.005 for r in rows)), 1.0)
    ax.set_xlabel("whole command, minutes (2 CPU cores)")
    ax.set_ylabel("test accuracy (95% bootstrap CI)")
    ax.set_title("4-class brain MRI, from scratch: accuracy against training time")
    save_figure(fig, ax, png)


def save_figure(fig: plt.Figure, ax: plt.Axes, png: Path) -> None:
    """Grid, tight layout, ``png`` written at 120 dpi (its folder made), the figure closed."""
    ax.grid(alpha=0.3)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="+")
    parser.add_argument("--only", nargs="+", help="plot only these step names")
    parser.add_argument("--point", action="append", default=[], help="NAME=MINUTES,ACCURACY,CI_LOW,CI_HIGH")
    parser.add_argument("--png", type=Path, default=Path("docs/recipe_accuracy.png"))
    args = parser.parse_args()
    rows = [row for out in args.out for row in points(out) if not args.only or row[0] in args.only]
    for point in args.point:
        name, values = point.split("=", 1)
        minutes, accuracy, low, high = (float(v) for v in values.split(","))
        rows.append((name, minutes, accuracy, low, high))
    for row in rows:
        print("{}: {:.1f} min, accuracy {:.4f} [{:.4f}, {:.4f}]".format(*row))
    plot(rows, args.png)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
