"""``medclass validate`` in the held-out-source setting of the shared 4-class brain MRI set: a model trained on
the images of one source, the images of the other source as an external site.

The Training folder merges sources; the colour mode of a JPEG tells two of them apart (grayscale and RGB files).
``notumor`` is almost all RGB, so the three tumour types are kept: the run trains on their grayscale images
(``--per-class`` of each, split 70/15/15 as usual) and is validated, frozen, on up to ``--per-class`` RGB images of
each class, with the subgroup ``size_band`` (JPEG file size above or below the class median, a proxy for the
scanner and the encoding).

    python benchmarks/validate_by_source.py --out /tmp/vbs      # then open /tmp/vbs/run/validation/dossier.html
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd
from PIL import Image

from medclass.utils.paths import shared_data_dir

CLASSES = ("glioma", "meningioma", "pituitary")


def source_table(training: Path) -> pd.DataFrame:
    """One row per image of ``CLASSES``: path, label, source (the JPEG's colour mode) and size_band."""
    rows = []
    for label in CLASSES:
        for path in sorted((training / label).iterdir()):
            with Image.open(path) as image:
                source = "grayscale" if image.mode in ("L", "I;16", "I") else "rgb"
            rows.append({"path": str(path), "label": label, "source": source, "bytes": path.stat().st_size})
    table = pd.DataFrame(rows)
    median = table.groupby("label")["bytes"].transform("median")
    table["size_band"] = (table["bytes"] > median).map({True: "large", False: "small"})
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--model", default="resnet18")
    args = parser.parse_args()
    table = source_table(shared_data_dir() / "brain_tumor_mri_4class" / "Training")
    print(table.groupby(["label", "source"]).size().unstack(fill_value=0).to_string())
    args.out.mkdir(parents=True, exist_ok=False)
    sample = table.sample(frac=1, random_state=0).groupby(["source", "label"]).head(args.per_class)
    columns = ["path", "label", "size_band"]
    sample[sample["source"] == "grayscale"][columns].to_csv(args.out / "grayscale.csv", index=False)
    sample[sample["source"] == "rgb"][columns].to_csv(args.out / "rgb.csv", index=False)
    medclass = [sys.executable, "-m", "medclass"]
    run = args.out / "run"
    subprocess.run(
        [*medclass, "train", "--data", str(args.out / "grayscale.csv"), "--model", args.model, "--image-size",
         str(args.image_size), "--epochs", str(args.epochs), "--out", str(run), "--offline"],
        check=True,
    )  # fmt: skip
    subprocess.run(
        [*medclass, "validate", str(run), "--external", f"rgb={args.out / 'rgb.csv'}", "--subgroups", "size_band"],
        check=True,
    )  # fmt: skip


if __name__ == "__main__":
    main()
