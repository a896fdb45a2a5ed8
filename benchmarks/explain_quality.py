"""The four measures of an explanation (issue 27) for candidate methods and layers on a trained run, on real scans.

For ``--n-per-class`` readable test images per class of ``--run`` (each explained for its predicted class):
the model-randomisation sanity check (median Spearman and SSIM between the trained and the fully randomised
model's maps) and, with ``--shuffled RUN``, the data-randomisation check (a model trained on shuffled labels);
faithfulness (deletion and insertion AUC gaps to random pixel orders, blurred or black baseline, mean and 95%
bootstrap CI);
the share of the map's energy inside the brain outline (against the outline's area share); readability (lattice
energy at the layer's stride, TV ratio). ``edge-filter`` is the control that ignores the model (it must fail the
sanity check). The pointing game on phantoms is ``benchmarks/localisation.py``. With ``--overlays DIR`` each
candidate's overlays of the images are written there (``<candidate>/<file>.png``).

Usage:
    python benchmarks/explain_quality.py --run RUN --shuffled RUN_SHUFFLED --out quality.csv \
        --candidates layercam,gradcam,gradcam@layer3,edge-filter
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

from medclass.explain.faithfulness import blurred_baseline
from medclass.explain.overlay import save_overlay
from medclass.explain.quality import Candidate, quality_row
from medclass.inference.checkpoint import load_for_inference
from medclass.inference.inputs import eval_transform, load_images
from medclass.transforms.tensor import to_chw_tensor


def test_images(run: Path, classes: list[str], n_per_class: int) -> list[str]:
    """The first ``n_per_class`` test images of each class of the run's splits.csv."""
    table = pd.read_csv(run / "splits.csv")
    test = table[table["split"] == "test"]
    return [p for c in classes for p in test[test["label"] == c]["path"].head(n_per_class)]


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Measure every candidate; print one JSON line each and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--shuffled", type=Path, help="a run of the same model trained on shuffled labels")
    parser.add_argument("--candidates", default="layercam,gradcam,edge-filter")
    parser.add_argument("--n-per-class", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--overlays", type=Path)
    parser.add_argument("--faithfulness", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--cascading",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the cascading randomisation (the table reads only the full one)",
    )
    parser.add_argument(
        "--baseline", choices=("black", "blur"), default="blur", help="what deleted pixels become"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, meta = load_for_inference(args.run)
    model.eval()
    shuffled = load_for_inference(args.shuffled)[0].eval() if args.shuffled else None
    size = meta.preprocess.image_size
    images = load_images(test_images(args.run, list(meta.classes), args.n_per_class), meta)
    inputs = images.tensor(range(len(images.rows)), meta)
    with torch.no_grad():
        targets = model(inputs).argmax(dim=1).tolist()
    pixels = [images.pixels(i) for i in range(len(images.rows))]
    black = eval_transform(meta)(to_chw_tensor(pixels[0] * 0))
    baseline = blurred_baseline(inputs) if args.baseline == "blur" else black
    rows = []
    for text in args.candidates.split(","):
        candidate = Candidate.parse(text)
        started = time.perf_counter()
        row, maps = quality_row(
            model,
            inputs,
            pixels,
            targets,
            candidate,
            size,
            baseline,
            shuffled,
            args.faithfulness,
            args.cascading,
        )
        row = {"candidate": text, **row, "n": len(targets), "seconds": time.perf_counter() - started}
        rows.append(row)
        print(json.dumps(row), flush=True)
        pd.DataFrame(rows).to_csv(args.out, index=False, float_format="%.4f")
        if args.overlays:
            for i, heat in enumerate(maps):
                name = Path(images.paths[i])
                title = f"{name.parent.name}/{name.name}: {text}, class {meta.classes[targets[i]]}"
                save_overlay(pixels[i], heat, args.overlays / text / f"{name.stem}.png", title, caption=text)
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
