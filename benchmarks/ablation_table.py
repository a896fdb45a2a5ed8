"""The markdown table of an ablation (``recipe_ablation.sh``): each lever against the base run.

    python benchmarks/ablation_table.py OUT_DIR [--base base]

Per run: test accuracy with its 95% bootstrap CI (from ``test_metrics.json``), the change against the base,
McNemar's test against the base on the same test images (``predictions_test.csv``; ``b`` = images only the
base got right, ``c`` = only the lever), the best epoch and the whole command's wall minutes (``times.txt``).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pandas as pd

from medclass.evaluation.stats import mcnemar_test

TIME = re.compile(r"^(?P<name>[\w.-]+): (?P<m>\d+) min (?P<s>\d+) s$")


def wall_minutes(out: Path) -> dict[str, float]:
    """``name -> minutes`` from ``times.txt`` (the last line of a name wins)."""
    minutes = {}
    for line in (out / "times.txt").read_text().splitlines():
        match = TIME.match(line.strip())
        if match:
            minutes[match["name"]] = int(match["m"]) + int(match["s"]) / 60
    return minutes


def correct(run: Path) -> pd.Series:
    """True per test image (by path) where the run's prediction is the label."""
    table = pd.read_csv(run / "predictions_test.csv", index_col="path")
    return table["prediction"] == table["label"]


def rows(out: Path, base: str) -> list[str]:
    minutes = wall_minutes(out)
    base_correct = correct(out / base)
    base_accuracy = base_correct.mean()
    lines = []
    for run in sorted(p.parent for p in out.glob("*/test_metrics.json")):
        metrics = json.loads((run / "test_metrics.json").read_text())
        ci = metrics["ci"]["accuracy"]
        lever = correct(run).reindex(base_correct.index)
        if lever.isna().any():
            raise SystemExit(f"{run}: its test images are not the base's")
        test = mcnemar_test(base_correct.to_numpy(), lever.to_numpy(dtype=bool))
        wall = f"{minutes[run.name]:.1f}" if run.name in minutes else "-"
        lines.append(
            f"| {run.name} | {metrics['accuracy']:.3f} [{ci['ci_low']:.3f}, {ci['ci_high']:.3f}] | "
            f"{metrics['accuracy'] - base_accuracy:+.3f} | {test['b']} / {test['c']}, p = {test['p_value']:.2g} | "
            f"{metrics.get('best_epoch', '-')} | {wall} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--base", default="base")
    args = parser.parse_args()
    print("| run | test accuracy [95% CI] | vs base | McNemar b / c | best epoch | wall min |")
    print("|---|---|---:|---|---:|---:|")
    print("\n".join(rows(args.out, args.base)))


if __name__ == "__main__":
    main()
