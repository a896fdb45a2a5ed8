"""Behaviour parity: a fixed-seed training run on the shared brain_mri_yesno set, compared file by file.

A refactor that promises "no change of behaviour" is checked with this script: train once on the code before
the change and once after, then compare the two run folders. ``metrics.csv`` (every column but ``seconds``),
``test_metrics.json`` (every key but the checkpoint path) and ``predictions_test.csv`` must be identical.

    python benchmarks/behaviour_parity.py train --out /tmp/parity/before     # on the old commit
    python benchmarks/behaviour_parity.py train --out /tmp/parity/after      # on the new one
    python benchmarks/behaviour_parity.py compare /tmp/parity/before /tmp/parity/after

The run uses the default model (ResNet-18) at 64 px for 3 epochs with calibration and a Youden operating
point, so that the temperature, the threshold and the test evaluation are all exercised; one thread and
``deterministic: true`` make it bit-reproducible.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

# Keys whose values name the run folder, so they differ between two otherwise identical runs.
RUN_SPECIFIC_KEYS = {"checkpoint"}


def train_run(out: Path, data_dir: Path) -> None:
    """Train the parity configuration into ``out``."""
    import torch

    from medclass.api import train
    from medclass.config import build_config

    torch.set_num_threads(1)
    config = build_config(
        {},
        overrides=[
            "data.image_size=64",
            "trainer.epochs=3",
            "trainer.progress_bar=false",
            "evaluation.bootstrap=200",
            "evaluation.calibrate=true",
            "evaluation.operating_point=youden",
            "evaluation.report=false",
            "deterministic=true",
            "seed=7",
        ],
        values={"data.path": str(data_dir / "brain_mri_yesno"), "out": str(out)},
    )
    train(config)


def strip_run_specific(value: Any) -> Any:
    """``value`` without the keys that name the run folder, recursively."""
    if isinstance(value, dict):
        return {k: strip_run_specific(v) for k, v in value.items() if k not in RUN_SPECIFIC_KEYS}
    if isinstance(value, list):
        return [strip_run_specific(v) for v in value]
    return value


def differences(before: Path, after: Path) -> list[str]:
    """What differs between two parity runs (empty: identical)."""
    found = []
    m1 = pd.read_csv(before / "metrics.csv").drop(columns=["seconds"])
    m2 = pd.read_csv(after / "metrics.csv").drop(columns=["seconds"])
    if not m1.equals(m2):
        found.append(f"metrics.csv differs:\n{m1}\n{m2}")
    t1 = strip_run_specific(json.loads((before / "test_metrics.json").read_text()))
    t2 = strip_run_specific(json.loads((after / "test_metrics.json").read_text()))
    if t1 != t2:
        keys = sorted(k for k in set(t1) | set(t2) if t1.get(k) != t2.get(k))
        found.append(f"test_metrics.json differs in {keys}")
    p1 = (before / "predictions_test.csv").read_bytes()
    p2 = (after / "predictions_test.csv").read_bytes()
    if p1 != p2:
        found.append("predictions_test.csv differs")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="train the parity run")
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--data-dir", type=Path, default=None, help="default: $MEDCLASS_DATA_DIR")
    compare = commands.add_parser("compare", help="compare two parity runs")
    compare.add_argument("before", type=Path)
    compare.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "train":
        from medclass.utils.paths import shared_data_dir

        train_run(args.out, args.data_dir or shared_data_dir())
        return 0
    found = differences(args.before, args.after)
    for line in found:
        print(line)
    print("identical" if not found else f"{len(found)} difference(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
