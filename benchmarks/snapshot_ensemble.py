"""A snapshot ensemble from one run: the mean probability of its last K epoch checkpoints, against the run's
own chosen checkpoint (and the hand-written loop) on the same test images. Issue 26's lever "a checkpoint
ensemble from one run", measured after the fact on a ``time_to_accuracy.sh`` run (its steps keep every epoch's
checkpoint): no training, K forward passes per image at inference.

    python benchmarks/snapshot_ensemble.py OUT_DIR/NAME --last 2 3 5 --against OUT_DIR/loop

Prints a markdown row per K: test accuracy with the stratified bootstrap 95% CI of ``time_to_accuracy.py``,
McNemar against the run's own predictions (``b`` = images only the run got right, ``c`` = only the ensemble) and
against ``--against`` (another run's ``predictions_test.csv``), and the seconds the K checkpoints took to score.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from ablation_table import correct  # the reader of predictions_test.csv (sibling script)
from time_to_accuracy import accuracy_ci  # the same bootstrap as the time-to-accuracy table (sibling script)

from medclass.evaluation.stats import mcnemar_test
from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictor


def kept_epochs(run: Path) -> list[int]:
    """The epochs with a checkpoint in ``run/checkpoints`` (``epoch=NN.ckpt``), in order."""
    return sorted(int(p.stem.split("=")[1]) for p in (run / "checkpoints").glob("epoch=*.ckpt"))


def epoch_probabilities(run: Path, epochs: list[int]) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """The test split's paths and labels, and each epoch checkpoint's probabilities for them (same order)."""
    probabilities: dict[int, np.ndarray] = {}
    table = files = None
    for epoch in epochs:
        predictor = Predictor.load(run, epoch)
        files = files or labelled_files(run, predictor.meta, None, "test")  # the same images every epoch
        result, y_true = predictor.predict_labelled(*files)
        if table is None:
            table = pd.DataFrame(
                {"path": result.paths, "y": y_true, "label": np.array(predictor.classes)[y_true]}
            )
        probabilities[epoch] = result.probs
    assert table is not None
    return table.set_index("path"), probabilities


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path)
    parser.add_argument("--last", type=int, nargs="+", default=[2, 3, 5])
    parser.add_argument("--against", type=Path, help="another run (folder with predictions_test.csv)")
    args = parser.parse_args()
    epochs = kept_epochs(args.run)[-max(args.last) :]
    started = time.perf_counter()
    table, probabilities = epoch_probabilities(args.run, epochs)
    seconds_per_checkpoint = (time.perf_counter() - started) / len(epochs)
    own = correct(args.run).reindex(table.index).astype(bool)
    other = correct(args.against).reindex(table.index).astype(bool) if args.against else None
    print("| ensemble | test accuracy [95% CI] | McNemar vs the run | McNemar vs other | scoring s |")
    print("|---|---|---|---|---:|")
    for k in args.last:
        mean = np.mean([probabilities[e] for e in epochs[-k:]], axis=0)
        hits = pd.Series(mean.argmax(axis=1) == table["y"].to_numpy(), index=table.index)
        low, high = accuracy_ci(hits, table["label"])
        versus = [mcnemar_test(base.to_numpy(), hits.to_numpy()) for base in (own, other) if base is not None]
        cells = [f"{t['b']} / {t['c']}, p = {t['p_value']:.2g}" for t in versus] + ["-"] * (2 - len(versus))
        print(
            f"| last {k} epochs ({epochs[-k]}-{epochs[-1]}) | {hits.mean():.3f} [{low:.3f}, {high:.3f}] | "
            f"{cells[0]} | {cells[1]} | {k * seconds_per_checkpoint:.0f} |"
        )


if __name__ == "__main__":
    main()
