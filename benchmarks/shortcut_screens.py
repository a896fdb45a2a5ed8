"""The three shortcut screens (``medclass.assessment.shortcuts``) of a trained run on a labelled data set,
leaving out the images the run trained or chose its epoch on (matched by file name).

The numbers of BENCHMARKS.md ("Shortcut screens on the 4-class brain MRI set") come from:

    python benchmarks/mri_subset.py --data $MEDCLASS_DATA_DIR/brain_tumor_mri_4class/Training --per-class 250 --out /tmp/sc
    medclass train --data /tmp/sc/mri --model cnn --image-size 64 --epochs 10 --out /tmp/sc/run --offline
    python benchmarks/shortcut_screens.py --run /tmp/sc/run \
        --data $MEDCLASS_DATA_DIR/brain_tumor_mri_4class/Training --out /tmp/sc/screens
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from medclass.assessment.shortcuts import screen_shortcuts
from medclass.explain.model_maps import default_class_maps
from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictor


def main(argv: list[str] | None = None) -> None:
    """Screen ``--data`` with the model of ``--run``; writes ``OUT/shortcuts.json`` and the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--explain-limit", type=int, default=200)
    args = parser.parse_args(argv)
    predictor = Predictor.load(args.run)
    files, labels = labelled_files(args.run, predictor.meta, args.data, "test")
    splits = pd.read_csv(args.run / "splits.csv")
    seen = {Path(p).name for p in splits.loc[splits["split"] != "test", "path"]}
    kept = [(f, label) for f, label in zip(files, labels, strict=True) if Path(f).name not in seen]
    print(f"{len(files)} images, {len(kept)} not used for training or model selection")
    start = time.perf_counter()
    result = screen_shortcuts(
        predictor,
        [f for f, _ in kept],
        [label for _, label in kept],
        predictor.classes,
        args.out,
        class_maps=default_class_maps,
        explain_limit=args.explain_limit,
    )
    (args.out / "shortcuts.json").write_text(json.dumps(result, indent=1))
    for key in ("metadata", "masked_anatomy", "outside_body"):
        print(f"{key}: flagged {result[key]['flagged']}. {result[key]['verdict']}")
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
