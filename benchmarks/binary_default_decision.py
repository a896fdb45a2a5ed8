"""The default decision of a binary model on real scans: sensitivity and specificity at the val-chosen operating
point (the default since issue 26) against the plain 0.5 threshold (what argmax decides), on several splits.

Trains ``medclass train --data DATA`` with the defaults on ``--splits`` duplicate-aware splits (``split.seed`` 0,
1, ...; the test images differ between them), then reads each run's ``test_metrics.json``: ``clinical`` (the
default rule: Youden's threshold on the declared positive class, chosen on val) and ``at_0.5``. Prints a row per
split with the CIs medclass reports, and the counts summed over the splits with Wilson 95% intervals (the splits
share images, so the sums are a summary, not independent samples).

    python benchmarks/binary_default_decision.py --out /tmp/bdd            # brain_mri_yesno, 5 splits
    python benchmarks/binary_default_decision.py --data TB_FOLDER --out /tmp/bdd-tb --splits 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from scipy.stats import binomtest

from medclass.evaluation.operating_points import clinical_summary
from medclass.utils.paths import shared_data_dir

RULES = {"val-chosen (default)": "clinical", "0.5 (argmax)": "at_0.5"}


def train(data: Path, run: Path, split_seed: int, extra: list[str]) -> None:
    """One default ``medclass train`` on the split ``split_seed``, kept if it finished before."""
    if (run / "test_metrics.json").exists():
        return
    command = [sys.executable, "-m", "medclass", "train", "--data", str(data), "--out", str(run), "--seed"]
    command += ["0", "--set", f"split.seed={split_seed}", "--set", "trainer.progress_bar=false", *extra]
    subprocess.run(command, check=True)


def counts(metrics: dict, block: str) -> dict[str, int]:
    """tp, fn, fp, tn of the positive class at one rule (``clinical`` or ``at_0.5``)."""
    # No at_0.5 block: the run fell back to argmax, the same decisions as its plain keys.
    summary = metrics.get("clinical") if block == "clinical" else None
    summary = summary or clinical_summary(metrics.get(block, metrics), metrics["positive_class"], block)
    return {key: int(summary[key]) for key in ("tp", "fn", "fp", "tn")}


def rate(hits: int, total: int) -> str:
    """``0.947 [0.87, 0.98]`` (Wilson 95%) or ``-`` when there is nothing to count."""
    if total == 0:
        return "-"
    interval = binomtest(hits, total).proportion_ci(method="wilson")
    return f"{hits / total:.3f} [{interval.low:.2f}, {interval.high:.2f}]"


def row(split: str, rule: str, c: dict[str, int], auroc: str) -> str:
    """One markdown row: sensitivity and specificity with their intervals, the counts, the AUROC cell."""
    sensitivity, specificity = rate(c["tp"], c["tp"] + c["fn"]), rate(c["tn"], c["tn"] + c["fp"])
    counted = f"{c['tp']} / {c['fn']} / {c['fp']} / {c['tn']}"
    return (
        f"| {split} | {rule} | {sensitivity} | {specificity} | {counted} |{f' {auroc} ' if auroc else ' '}|"
    )


def table(runs: list[Path]) -> list[str]:
    """Markdown rows: per split and rule, then the summed counts per rule."""
    lines = [
        "| split | rule | sensitivity | specificity | tp / fn / fp / tn | AUROC |",
        "|---|---|---|---|---|---|",
    ]
    totals = {rule: {"tp": 0, "fn": 0, "fp": 0, "tn": 0} for rule in RULES}
    for index, run in enumerate(runs):
        metrics = json.loads((run / "test_metrics.json").read_text())
        for rule, block in RULES.items():
            c = counts(metrics, block)
            for key in c:
                totals[rule][key] += c[key]
            lines.append(row(str(index), rule, c, f"{metrics['auroc']:.3f}"))
    lines += [row("all", rule, c, "") for rule, c in totals.items()]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=shared_data_dir() / "brain_mri_yesno")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="passed to medclass train"
    )
    args = parser.parse_args()
    extra = [item for override in args.overrides for item in ("--set", override)]
    runs = [args.out / f"split{seed}" for seed in range(args.splits)]
    for seed, run in enumerate(runs):
        train(args.data, run, seed, extra)
    print("\n".join(table(runs)))


if __name__ == "__main__":
    main()
