"""Shortcut screen (a): can the label be told from the image's metadata alone?

A data set merged from several sources often lets the file (its size, colour mode, format, compression, the
grey level of its border) say where an image came from, and the source says the class. A model can then score
well without looking at the patient. The screen fits a small cross-validated model on those facts alone and
compares its balanced accuracy with chance; each fact is also scored alone, so the verdict names the carrier.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.tree import DecisionTreeClassifier

from medclass.data.readers import UnreadableImage, image_info, read_image

# Bits per sample of each Pillow mode (``image_info``'s mode); DICOM/NIfTI modes are read as 16.
MODE_BITS = {"1": 1, "L": 8, "P": 8, "RGB": 8, "RGBA": 8, "CMYK": 8, "LA": 8, "I;16": 16, "I": 32, "F": 32}
# Modes stored with colour (Pillow's, and DICOM photometric interpretations as ``image_info`` names them).
COLOUR_MODES = {
    "RGB",
    "RGBA",
    "CMYK",
    "YCbCr",
    "P",
    "PA",
    "DICOM RGB",
    "DICOM YBR_FULL",
    "DICOM YBR_FULL_422",
}
# Width of the border band whose statistics are features: 5% of the shorter side (at least one pixel).
BORDER_SHARE = 0.05
NUMERIC_FEATURES = (
    "width",
    "height",
    "aspect_ratio",
    "bit_depth",
    "channels",
    "file_size_kb",
    "mean_intensity",
    "border_mean",
    "border_std",
)
CATEGORICAL_FEATURES = ("format", "mode")
MAX_FOLDS = 5


def _border(image: np.ndarray) -> np.ndarray:
    """The pixels of the outer band (:data:`BORDER_SHARE` of the shorter side) of a 2-D image."""
    band = max(1, round(BORDER_SHARE * min(image.shape)))
    inner = np.ones(image.shape, dtype=bool)
    inner[band:-band, band:-band] = False
    return image[inner]


def image_metadata(paths: Sequence[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row of metadata per readable file (``path`` and :data:`NUMERIC_FEATURES`, :data:`CATEGORICAL_FEATURES`),
    and ``{path: reason}`` for the files that could not be read.

    Intensities are those of the decoded grey image (0-255), before any preprocessing of the model.
    """
    rows, failures = [], {}
    for path in paths:
        try:
            info = image_info(path)
            grey = read_image(path, channels=1)[:, :, 0].astype(np.float64)
        except UnreadableImage as exc:
            failures[str(path)] = exc.reason
            continue
        border = _border(grey)
        rows.append(
            {
                "path": str(path),
                "width": info.width,
                "height": info.height,
                "aspect_ratio": info.width / info.height,
                "bit_depth": MODE_BITS.get(info.mode, 16),
                "channels": 3 if info.mode in COLOUR_MODES else 1,
                "file_size_kb": os.stat(path).st_size / 1024 if os.path.exists(path) else 0.0,
                "mean_intensity": float(grey.mean()),
                "border_mean": float(border.mean()),
                "border_std": float(border.std()),
                "format": info.format,
                "mode": info.mode,
            }
        )
    return pd.DataFrame(rows), failures


def feature_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """The numeric features plus one indicator column per format and mode (``format=JPEG``, ``mode=L``, ...)."""
    numeric = table[list(NUMERIC_FEATURES)].astype(float)
    indicators = pd.get_dummies(table[list(CATEGORICAL_FEATURES)].astype(str), prefix_sep="=", dtype=float)
    return pd.concat([numeric, indicators], axis=1)


@dataclass
class MetadataFit:
    """Cross-validated probabilities of the metadata model, and each feature's balanced accuracy alone.

    Attributes:
        probs: ``(N, K)`` out-of-fold probabilities of the gradient-boosting model on all features.
        folds: the number of cross-validation folds.
        single: feature -> cross-validated balanced accuracy of a depth-3 tree on that feature alone
            (indicator columns grouped back into ``format`` and ``mode``).
    """

    probs: np.ndarray
    folds: int
    single: dict[str, float] = field(default_factory=dict)


def _balanced_accuracy(y: np.ndarray, predicted: np.ndarray, k: int) -> float:
    recalls = [float(np.mean(predicted[y == c] == c)) for c in range(k) if np.any(y == c)]
    return float(np.mean(recalls))


def fit_metadata_model(table: pd.DataFrame, y: np.ndarray, k: int, seed: int = 0) -> MetadataFit | None:
    """Out-of-fold predictions of the label from metadata alone (stratified K-fold, K = min(5, smallest class));
    None when the smallest class has fewer than 2 images (no fold can hold it out).

    Gradient boosting (scikit-learn's histogram version) because it needs no scaling, mixes counts, sizes and
    indicators, and finds a threshold on one feature as easily as an interaction.
    """
    counts = np.bincount(y, minlength=k)
    folds = int(min(MAX_FOLDS, counts[counts > 0].min()))
    if folds < 2 or np.count_nonzero(counts) < 2:
        return None
    features = feature_matrix(table)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    # The default leaf size (20) forbids every split on a set of a few dozen images (a constant model: chance);
    # 5% of the images, between 2 and 20, lets a small test set show a shortcut as plainly as a large one.
    leaf = max(2, min(20, len(y) // 20))
    model = HistGradientBoostingClassifier(max_iter=100, min_samples_leaf=leaf, random_state=seed)
    probs = np.zeros((len(y), k))
    present = np.flatnonzero(counts)
    probs[:, present] = cross_val_predict(model, features.to_numpy(), y, cv=splitter, method="predict_proba")
    single = {}
    for name in (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES):
        columns = [c for c in features.columns if c == name or c.startswith(f"{name}=")]
        tree = DecisionTreeClassifier(max_depth=3, random_state=seed)
        predicted = cross_val_predict(tree, features[columns].to_numpy(), y, cv=splitter)
        single[name] = _balanced_accuracy(y, predicted, k)
    return MetadataFit(probs=probs, folds=folds, single=single)


def describe_metadata(table: pd.DataFrame, y: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Per class: the distinct image sizes (up to 5, most frequent first), formats and modes with their counts."""
    summary: dict[str, Any] = {}
    for index, name in enumerate(classes):
        rows = table[y == index]
        sizes = (rows["width"].astype(str) + "x" + rows["height"].astype(str)).value_counts()
        summary[name] = {
            "n": len(rows),
            "sizes": {k: int(v) for k, v in sizes.head(5).items()},
            "formats": {k: int(v) for k, v in rows["format"].value_counts().items()},
            "modes": {k: int(v) for k, v in rows["mode"].value_counts().items()},
            "median_file_size_kb": float(rows["file_size_kb"].median()) if len(rows) else None,
        }
    return summary
