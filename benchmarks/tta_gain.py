"""Test-time augmentation against plain prediction on a run's own test split (issue-13 ablation).

    python benchmarks/tta_gain.py RUN_DIR [RUN_DIR ...] [--views 2 4 8]

For each run: test accuracy with its 95% bootstrap CI for plain prediction and for the mean of N views (view 0
is the image, the others flips and shifts of at most 5% from the eval-safe part of the run's training
augmentation: `medclass predict --tta N`), McNemar's test against plain on the same images, and the seconds
each took.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from medclass.evaluation.bootstrap import bootstrap_ci
from medclass.evaluation.stats import mcnemar_test
from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictor


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--views", nargs="+", type=int, default=[2, 4, 8])
    args = parser.parse_args()
    for run in args.runs:
        predictor = Predictor.load(run)
        paths, labels = labelled_files(run, predictor.meta, None, "test")
        plain = None
        for views in [0, *args.views]:
            start = time.perf_counter()
            result, y_true = predictor.predict_labelled(paths, labels, tta=views)
            seconds = time.perf_counter() - start
            correct = result.predicted == y_true
            ci = bootstrap_ci(
                y_true, result.probs, predictor.classes, 1000, threshold=predictor.meta.decision.threshold
            )
            acc = ci["accuracy"]
            line = (
                f"{run.name:16s} tta {views:2d}: accuracy {acc['value']:.4f} [{acc['ci_low']:.4f}, "
                f"{acc['ci_high']:.4f}] {seconds:5.1f} s"
            )
            if plain is None:
                plain = correct
            else:
                test = mcnemar_test(plain, correct)
                line += f" | vs plain: b={test['b']} c={test['c']} p={test['p_value']:.3g}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
