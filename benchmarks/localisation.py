"""Localisation of every explanation method on phantoms with small lesions: pointing-game hit rate.

For each model and image size: phantom MRI slices (``medclass.data.synthetic``) where the ``tumor`` class adds
one bright lesion of radius 3-10% of the side at a random place; one training through ``medclass.api.train``
with the default settings except the size, the epochs and the report (reused by every method, and by a
second call with the same ``--out``); then, on an independent probe set (another seed), each method's map
for the true class of every lesion image and whether its maximum falls within ``--tolerance`` (a fraction
of the side) of the lesion's box. ``gradcam@last`` is Grad-CAM at the family's last stage, the layer used
before the layer was chosen by resolution. With ``--faithfulness``, the mean deletion and insertion AUCs
(``explain.faithfulness``) too. A method may name its layer: ``gradcam@layer3``, ``hirescam@last``.

Usage:
    python benchmarks/localisation.py --models resnet18,cnn --sizes 128 --out /tmp/loc-bench
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from medclass.api import train
from medclass.config import build_config
from medclass.data.synthetic import make_phantom_dataset
from medclass.explain import ATTRIBUTION_METHODS, CAM_METHODS, explanation_maps, resolve_target_layer
from medclass.explain.faithfulness import deletion_insertion
from medclass.explain.localisation import pointing_game
from medclass.explain.targets import last_stage_layer
from medclass.inference.checkpoint import load_for_inference
from medclass.inference.inputs import eval_transform, load_images

LESION_RADIUS = (0.03, 0.10)


def train_once(model: str, size: int, root: Path, n_per_class: int, epochs: int) -> tuple[Path, dict]:
    """Train ``model`` on phantoms at ``size`` px into ``root`` unless a finished run is already there."""
    run = root / "run"
    metrics_file = run / "test_metrics.json"
    if metrics_file.is_file():
        return run, json.loads(metrics_file.read_text())
    data = make_phantom_dataset(
        root / "data", n_per_class=n_per_class, size=size, seed=1, lesion_radius=LESION_RADIUS
    )
    config = {
        "seed": 0,
        "data": {"image_size": size},
        "model": {"name": model},
        "trainer": {"epochs": epochs, "progress_bar": False},
        "evaluation": {"bootstrap": 0, "report": False},
    }
    started = time.perf_counter()
    result = train(build_config(config, [], {"data.path": str(data), "out": str(run)}))
    print(f"{model} {size}px: trained in {time.perf_counter() - started:.0f} s", flush=True)
    return run, result.test_metrics


def probe_set(root: Path, size: int, n: int) -> tuple[list[str], list[tuple[float, float, float, float]]]:
    """Lesion images of an independent phantom set (seed 123) and their boxes."""
    folder = root / f"probe_{size}"
    if not (folder / "lesions.csv").is_file():
        make_phantom_dataset(folder, n_per_class=n, size=size, seed=123, lesion_radius=LESION_RADIUS)
    table = pd.read_csv(folder / "lesions.csv")
    return [str(folder / p) for p in table["path"]], list(
        table[["x0", "y0", "x1", "y1"]].itertuples(index=False)
    )


def measure(
    run: Path, files: list[str], boxes: list, methods: list[str], tolerance: float, faithful: bool
) -> list:
    """One row per method: hit rate, hits, layer, seconds per image (and the faithfulness AUCs)."""
    model, meta = load_for_inference(run)
    model.eval()
    settings, transform = meta.preprocess.settings, eval_transform(meta)
    images = load_images(files, meta)
    inputs = images.tensor(range(len(images.rows)), meta)
    targets = [meta.classes.index("tumor")] * len(files)
    size = settings.image_size
    black = transform(torch.zeros(settings.channels, size, size, dtype=torch.uint8))
    rows = []
    for method in methods:
        name, _, layer = method.partition("@")
        layer = last_stage_layer(model) if layer == "last" else (layer or None)
        target_layer = resolve_target_layer(model, layer, size) if name in CAM_METHODS else None
        started = time.perf_counter()
        maps = np.concatenate(
            [
                explanation_maps(model, inputs[i : i + 8], targets[i : i + 8], name, target_layer, black)[0]
                for i in range(0, len(files), 8)
            ]
        )
        seconds = (time.perf_counter() - started) / len(files)
        hits = pointing_game(maps, boxes, tolerance * size)
        row = {
            "method": method,
            "layer": target_layer.name if target_layer is not None else "input",
            "hits": int(hits.sum()),
            "n": len(files),
            "hit_rate": float(hits.mean()),
            "s_per_image": seconds,
        }
        if faithful:
            curves = deletion_insertion(model, inputs, maps, targets, black)
            row["deletion_auc"] = float(curves.deletion_auc.mean())
            row["insertion_auc"] = float(curves.insertion_auc.mean())
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def markdown(table: pd.DataFrame) -> str:
    """``table`` as a GitHub Markdown table (pandas' ``to_markdown`` needs tabulate, not a dependency)."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet18,efficientnet_b0,densenet121,cnn")
    parser.add_argument("--sizes", default="128,224")
    parser.add_argument("--methods", default=",".join(["gradcam@last", *CAM_METHODS, *ATTRIBUTION_METHODS]))
    parser.add_argument("--n-per-class", type=int, default=150, help="training phantoms per class")
    parser.add_argument("--probe", type=int, default=40, help="probe lesion images")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument(
        "--tolerance", type=float, default=0.03, help="pointing-game tolerance, fraction of side"
    )
    parser.add_argument("--faithfulness", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        files, boxes = probe_set(args.out, size, args.probe)
        for model in args.models.split(","):
            run, metrics = train_once(
                model, size, args.out / f"{model}_{size}", args.n_per_class, args.epochs
            )
            head = {"model": model, "size": size, "test_auroc": metrics.get("auroc")}
            for row in measure(run, files, boxes, args.methods.split(","), args.tolerance, args.faithfulness):
                rows.append({**head, **row})
            pd.DataFrame(rows).to_csv(args.out / "localisation.csv", index=False)
    table = pd.DataFrame(rows)
    print(markdown(table))
    return table


if __name__ == "__main__":
    main()
