"""The body outline of an image (the patient, as opposed to background, borders and burnt-in text), and the
share of a map's energy inside it.

The outline is a threshold, the largest connected component and its holes filled:

- the threshold is Otsu's (Otsu, *IEEE Trans. Syst. Man Cybern.* 9(1), 1979) by default: it adapts to each
  image's histogram, which a fixed share of the range does not (a bright marker or a dark scanner border moves
  the range, not the two modes of background and tissue); a fixed share of the range can still be asked for
  (``threshold=0.1``: the localisation check of ``explain``, whose benchmark numbers use it);
- the largest component drops what lies apart from the body: text, rulers, corner markers, frame lines;
- hole filling keeps the dark inside of the body (ventricles, CSF, lungs) in the outline.

Otsu is written here (a histogram and one cumulative sum) rather than taken from scikit-image, which medclass
does not otherwise need; scipy.ndimage gives the components and the filling.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of ``values``: the cut that maximises the between-class variance of the histogram.

    Returns the lower edge of the upper class (values ``>=`` it are foreground); the minimum of ``values``
    when they are all equal.
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    low, high = float(flat.min()), float(flat.max())
    if high <= low:
        return low
    counts, edges = np.histogram(flat, bins=bins, range=(low, high))
    weights = counts / counts.sum()
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(weights)  # share of the lower class for a cut after each bin
    m0 = np.cumsum(weights * centres)
    total = m0[-1]
    w1 = 1.0 - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total * w0 - m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1.0
    return float(edges[int(np.argmax(between)) + 1])


def body_mask(pixels: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Boolean ``H x W`` outline of the body in a uint8 ``H x W [x C]`` image (channels averaged).

    Args:
        pixels: the image (what the model sees: the preprocessed array cache's pixels).
        threshold: None: Otsu's threshold; a number in (0, 1): that share of the image's intensity range above
            its minimum.

    Returns:
        The largest connected component above the threshold, holes filled; the whole image when it is flat.
    """
    image = np.asarray(pixels, dtype=np.float64)
    image = image.mean(axis=2) if image.ndim == 3 else image
    low, high = float(image.min()), float(image.max())
    if high <= low:
        return np.ones(image.shape, dtype=bool)
    cut = otsu_threshold(image) if threshold is None else low + threshold * (high - low)
    mask = ndimage.binary_fill_holes(image >= cut if threshold is None else image > cut)
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = ndimage.sum(mask, labels, index=range(1, count + 1))
        mask = ndimage.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))
    return mask


def energy_inside(heat: np.ndarray, mask: np.ndarray) -> float:
    """Share of the map's energy (its absolute values) inside ``mask``; the mask's area share for a zero map."""
    energy = np.abs(np.asarray(heat, dtype=np.float64))
    mask = np.asarray(mask, dtype=bool)
    if energy.shape != mask.shape:
        raise ValueError(f"map of shape {energy.shape} and mask of shape {mask.shape} differ")
    total = energy.sum()
    return float(energy[mask].sum() / total) if total > 0 else float(mask.mean())
