"""Does precise BN pay? The same training with ``trainer.precise_bn`` on and off, over several seeds.

    python benchmarks/precise_bn.py --out /tmp/pbn [--seeds 1 2 3] [--data yesno demo]

``yesno``: the default ``medclass train`` (ResNet-18, 128 px) on ``brain_mri_yesno`` (253 images, about 5
training steps per epoch, so ``precise_bn: auto`` is on). ``demo``: the demo config on its phantom set. Each
pair shares seed and split, so the difference is precise BN alone. Prints test accuracy, AUROC and log loss,
the val loss of the best epoch and the mean epoch seconds, per run and as means over the seeds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from sklearn.metrics import log_loss

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from medclass.data.synthetic import make_phantom_dataset  # noqa: E402
from medclass.utils.paths import shared_data_dir  # noqa: E402


def sources(names: list[str], out: Path) -> dict[str, list[str]]:
    """The ``medclass train`` arguments of each named data set."""
    args = {}
    if "yesno" in names:
        args["yesno"] = ["--data", str(shared_data_dir() / "brain_mri_yesno")]
    if "demo" in names:
        phantoms = out / "phantoms"
        if not phantoms.exists():
            make_phantom_dataset(phantoms, n_per_class=100, size=128, seed=0)
        args["demo"] = ["--data", str(phantoms), "--config", str(ROOT / "src/medclass/configs/demo.yaml")]
    return args


def log_loss_on_test(run: Path) -> float:
    """Mean negative log-likelihood of the true class over the run's test predictions."""
    table = pd.read_csv(run / "predictions_test.csv")
    columns = [c for c in table.columns if c.startswith("p_")]
    return float(log_loss(table["label"], table[columns].to_numpy(), labels=[c[2:] for c in columns]))


def train(name: str, data_args: list[str], seed: int, precise: bool, out: Path) -> dict:
    run = out / f"{name}-seed{seed}-{'on' if precise else 'off'}"
    if not (run / "test_metrics.json").exists():
        command = [
            sys.executable,
            "-m",
            "medclass",
            "train",
            *data_args,
            "--seed",
            str(seed),
            "--out",
            str(run),
        ]
        command += [
            "--set",
            f"trainer.precise_bn={str(precise).lower()}",
            "--set",
            "trainer.progress_bar=false",
        ]
        command += ["--set", "evaluation.report=false"]
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    metrics = json.loads((run / "test_metrics.json").read_text())
    epochs = pd.read_csv(run / "metrics.csv")
    return {
        "data": name,
        "seed": seed,
        "precise_bn": precise,
        "n_test": metrics["n"],
        "accuracy": metrics["accuracy"],
        "auroc": metrics["auroc"],
        "log_loss": log_loss_on_test(run),
        "best_val_loss": float(epochs["val_loss"].min()),
        "epoch_s": float(epochs["seconds"].mean()),
    }


def markdown(table: pd.DataFrame) -> str:
    """A Markdown table of ``table`` (floats to 4 decimals)."""
    cells = [
        [f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in table.itertuples(index=False)
    ]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--data", nargs="+", default=["yesno", "demo"], choices=["yesno", "demo"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [
        train(name, data_args, seed, precise, args.out)
        for name, data_args in sources(args.data, args.out).items()
        for seed in args.seeds
        for precise in (False, True)
    ]
    table = pd.DataFrame(rows)
    print(markdown(table))
    summary = table.groupby(["data", "precise_bn"])[
        ["accuracy", "auroc", "log_loss", "best_val_loss", "epoch_s"]
    ]
    print()
    print(markdown(summary.mean().reset_index()))


if __name__ == "__main__":
    main()
