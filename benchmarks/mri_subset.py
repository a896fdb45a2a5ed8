"""A class-balanced subset of the 4-class brain MRI set as symbolic links, and the same images with shuffled labels.

The explanation benchmarks (``benchmarks/explain_quality.py``) train a model on ``OUT/mri`` and the
data-randomisation check's model on ``OUT/mri_shuffled``: the same files, each linked into a class folder drawn
by a seeded permutation of the labels (class counts kept).

Usage:
    python benchmarks/mri_subset.py --per-class 290 --out /tmp/h5
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    """Write ``OUT/mri/<class>/`` and ``OUT/mri_shuffled/<class>/`` links."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = (
        Path(os.environ.get("MEDCLASS_DATA_DIR", "../shared/datasets")) / "brain_tumor_mri_4class/Training"
    )
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--per-class", type=int, default=290)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    classes = sorted(p.name for p in args.data.iterdir() if p.is_dir())
    picked = []
    for name in classes:
        files = sorted(f for f in (args.data / name).iterdir() if f.is_file())
        picked += [(f, name) for f in rng.sample(files, args.per_class)]
    labels = [label for _, label in picked]
    shuffled = labels[:]
    rng.shuffle(shuffled)
    for folder, assigned in (("mri", labels), ("mri_shuffled", shuffled)):
        for (file, _), label in zip(picked, assigned, strict=True):
            link = args.out / folder / label / file.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(file.resolve())
    print(
        f"{len(picked)} images of {len(classes)} classes in {args.out / 'mri'} and {args.out / 'mri_shuffled'}"
    )


if __name__ == "__main__":
    main()
