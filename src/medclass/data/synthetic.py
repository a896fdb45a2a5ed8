"""MRI-like phantom images for the demo and for tests, and a multi-label shapes set with known rules.

Each image is an axial "head": an elliptical skull ring around brain tissue with smooth low-frequency texture,
a darker ventricle pair and Rician-like noise. Images of the ``tumor`` class carry one bright, roughly round
lesion at a random place inside the brain; its bounding box is written to ``lesions.csv`` so that explanations
can be checked against the true location.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter


@dataclass(frozen=True)
class Lesion:
    """Lesion centre and radius in pixels (x to the right, y down)."""

    cx: float
    cy: float
    radius: float

    def bbox(self) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` inclusive-exclusive box around the lesion."""
        r = self.radius
        return int(self.cx - r), int(self.cy - r), int(np.ceil(self.cx + r)), int(np.ceil(self.cy + r))


def phantom_image(
    size: int,
    rng: np.random.Generator,
    lesion: bool,
    lesion_radius: tuple[float, float] = (0.06, 0.10),
) -> tuple[np.ndarray, Lesion | None]:
    """One phantom slice as a uint8 ``size x size`` array, and its lesion (or None).

    ``lesion_radius`` is the range of the lesion's radius as a fraction of ``size`` (drawn uniformly).
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx = size / 2 + rng.uniform(-0.04, 0.04) * size
    cy = size / 2 + rng.uniform(-0.04, 0.04) * size
    ax = size * rng.uniform(0.34, 0.40)
    ay = size * rng.uniform(0.40, 0.46)
    ellipse = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2
    brain = ellipse <= 0.82
    skull = (ellipse > 0.88) & (ellipse <= 1.0)

    texture = gaussian_filter(rng.normal(0, 1, (size, size)).astype(np.float32), sigma=size / 24)
    texture /= np.abs(texture).max() + 1e-6
    image = np.zeros((size, size), np.float32)
    image[brain] = 0.42 + 0.10 * texture[brain]
    image[skull] = 0.85
    for side in (-1, 1):  # ventricles: two dark ellipses either side of the midline
        vx, vy = cx + side * size * 0.06, cy - size * 0.02
        ventricle = ((xx - vx) / (size * 0.035)) ** 2 + ((yy - vy) / (size * 0.10)) ** 2 <= 1
        image[ventricle & brain] = 0.18

    found = None
    if lesion:
        radius = size * rng.uniform(*lesion_radius)
        while True:  # a centre well inside the brain
            lx, ly = rng.uniform(cx - ax * 0.6, cx + ax * 0.6), rng.uniform(cy - ay * 0.6, cy + ay * 0.6)
            if ((lx - cx) / ax) ** 2 + ((ly - cy) / ay) ** 2 < 0.45:
                break
        blob = np.exp(-(((xx - lx) ** 2 + (yy - ly) ** 2) / (2 * (radius / 1.6) ** 2)))
        image = np.maximum(image, 0.95 * blob * brain + image * (1 - blob))
        found = Lesion(float(lx), float(ly), float(radius))

    image = gaussian_filter(image, sigma=0.6)
    noisy = np.hypot(image + rng.normal(0, 0.03, image.shape), rng.normal(0, 0.03, image.shape))
    return (np.clip(noisy, 0, 1) * 255).astype(np.uint8), found


def make_phantom_dataset(
    out_dir: str | Path,
    n_per_class: int = 100,
    size: int = 128,
    seed: int = 0,
    classes: tuple[str, str] = ("no_tumor", "tumor"),
    lesion_radius: tuple[float, float] = (0.06, 0.10),
) -> Path:
    """Write ``out_dir/<class>/<class>_NNN.png`` (second class has lesions) and ``out_dir/lesions.csv``.

    ``lesion_radius``: range of the lesion radius as a fraction of ``size`` (see :func:`phantom_image`).

    Returns:
        The data folder (folder-per-class layout).
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    rows = []
    for label_index, label in enumerate(classes):
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            pixels, lesion = phantom_image(size, rng, lesion=label_index == 1, lesion_radius=lesion_radius)
            path = folder / f"{label}_{i:03d}.png"
            Image.fromarray(pixels).save(path)
            if lesion is not None:
                rows.append([str(path.relative_to(out)), *lesion.bbox()])
    with open(out / "lesions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "x0", "y0", "x1", "y1"])
        writer.writerows(rows)
    return out


# The shapes of :func:`make_shapes_multilabel`, one per label, each drawn at a random place when its label is on.
SHAPE_LABELS = ("disc", "square", "bar")


def shapes_image(size: int, rng: np.random.Generator, present: dict[str, bool]) -> np.ndarray:
    """A noisy grey ``size x size`` uint8 image with a bright disc (upper left quarter), a hollow square (upper
    right quarter) and/or a horizontal bar (lower half), each placed with a random jitter, as ``present`` says:
    the known label-generating rule of the multi-label test set."""
    yy, xx = np.mgrid[0:size, 0:size]
    image = rng.normal(50.0, 10.0, (size, size))
    half, r = size // 2, size / 8
    if present.get("disc"):
        cx, cy = rng.uniform(r + 1, half - r - 1, 2)
        image[(xx - cx) ** 2 + (yy - cy) ** 2 <= r**2] = 230.0
    if present.get("square"):
        side = int(2 * r) + 2
        x0 = half + int(rng.integers(1, half - side))
        y0 = int(rng.integers(1, half - side))
        box = image[y0 : y0 + side, x0 : x0 + side]
        box[:2], box[-2:], box[:, :2], box[:, -2:] = 200.0, 200.0, 200.0, 200.0
    if present.get("bar"):
        y0 = half + int(rng.integers(1, half - 4))
        image[y0 : y0 + 3, size // 8 : size - size // 8] = 240.0
    return np.clip(image, 0, 255).astype(np.uint8)


def make_shapes_multilabel(
    out_dir: str | Path,
    n: int = 300,
    size: int = 32,
    seed: int = 0,
    layout: str = "labels",
    prevalence: float = 0.4,
) -> Path:
    """A multi-label data set with known label-generating rules: each of :data:`SHAPE_LABELS` is switched on
    independently with probability ``prevalence`` and drawn into the image. Writes ``out_dir/images/*.png`` and
    the manifest ``out_dir/labels.csv``: ``path,labels`` (``disc|bar``, empty for none) for ``layout="labels"``,
    or ``path`` and one 0/1 column per label for ``layout="columns"``. Returns the manifest.
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        present = {name: bool(rng.random() < prevalence) for name in SHAPE_LABELS}
        path = Path("images") / f"img_{i:04d}.png"
        Image.fromarray(shapes_image(size, rng, present)).save(out / path)
        if layout == "labels":
            rows.append([str(path), "|".join(name for name in SHAPE_LABELS if present[name])])
        else:
            rows.append([str(path), *(int(present[name]) for name in SHAPE_LABELS)])
    manifest = out / "labels.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "labels"] if layout == "labels" else ["path", *SHAPE_LABELS])
        writer.writerows(rows)
    return manifest
