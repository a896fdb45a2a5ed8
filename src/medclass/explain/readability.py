"""Is a map readable? Grid and checkerboard artefacts, measured.

A CAM at an early, high-resolution layer (or a gradient through strided convolutions) can come out as a regular
lattice of dots: the stride pattern of the network, not an account of the decision. Two measures, both pure
functions of a 2-D map:

- :func:`lattice_energy`: the share of the map's spectral power (mean removed) in narrow bands at the
  frequencies of a period of ``stride`` pixels and its harmonics, along either axis. A smooth map puts almost
  nothing there; a lattice of period ``stride`` puts most of its power there. Measured at the target layer's
  stride (input side / grid side) and twice it (the stride of the next downsampling), the worse of the two.
- :func:`tv_ratio`: the total variation of the map over that of the same map averaged to a grid of
  ``stride``-pixel cells and smoothly upsampled. 1 means no detail finer than a cell; a lattice inside the cells
  gives several times more.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional

# Half-width of each frequency band, in FFT bins.
BAND_BINS = 1
# A lattice is measured only at periods up to 1/8 of the side (a coarser period is the map's own smooth content:
# a 4x4 CAM at 128 px varies at 32 px), and the TV ratio only for cells up to 1/4 of the side; otherwise NaN.
LATTICE_MAX_PERIOD = 8
TV_MAX_CELL = 4


def _check(heat: np.ndarray) -> np.ndarray:
    heat = np.asarray(heat, dtype=np.float64)
    if heat.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {heat.shape}")
    return heat


def lattice_energy(heat: np.ndarray, stride: int) -> float:
    """Share in [0, 1] of the non-constant spectral power at the harmonics of a ``stride``-pixel period.

    Args:
        heat: 2-D map.
        stride: the period of the suspected lattice, in map pixels (>= 2).

    Raises:
        ValueError: not a 2-D map, or a stride under 2 or over half the side.
    """
    heat = _check(heat)
    height, width = heat.shape
    if stride < 2 or 2 * stride > min(height, width):
        raise ValueError(f"stride {stride} px: expected 2 to half the map's side ({min(height, width)} px)")
    power = np.abs(np.fft.fft2(heat - heat.mean())) ** 2
    total = power.sum()
    if total <= 0:
        return 0.0
    band = np.zeros_like(power, dtype=bool)
    for size, axis in ((height, 0), (width, 1)):
        frequencies = np.abs(np.fft.fftfreq(size)) * size  # bins, 0 .. size/2
        step = size / stride
        near = np.zeros(size, dtype=bool)
        for k in np.arange(step, size / 2 + 0.5, step):
            near |= np.abs(frequencies - k) <= BAND_BINS
        band |= near[:, None] if axis == 0 else near[None, :]
    return float(power[band].sum() / total)


def coarse_map(heat: np.ndarray, stride: int) -> np.ndarray:
    """``heat`` averaged over ``stride`` x ``stride`` cells and upsampled back bilinearly (the smooth map that
    a CAM on the layer's grid would give)."""
    heat = _check(heat)
    tensor = torch.as_tensor(heat, dtype=torch.float32)[None, None]
    grid = (max(heat.shape[0] // stride, 1), max(heat.shape[1] // stride, 1))
    cells = functional.adaptive_avg_pool2d(tensor, grid)
    return functional.interpolate(cells, size=heat.shape, mode="bilinear", align_corners=False)[0, 0].numpy()


def total_variation(heat: np.ndarray) -> float:
    """Anisotropic total variation: the sum of absolute differences between neighbouring pixels."""
    heat = _check(heat)
    return float(np.abs(np.diff(heat, axis=0)).sum() + np.abs(np.diff(heat, axis=1)).sum())


def tv_ratio(heat: np.ndarray, stride: int) -> float:
    """Total variation of ``heat`` over that of :func:`coarse_map` (1.0 for a constant map)."""
    smooth = total_variation(coarse_map(heat, stride))
    rough = total_variation(heat)
    if smooth <= 0:
        return 1.0 if rough <= 0 else float("inf")
    return rough / smooth


def readability(maps: Sequence[np.ndarray], stride: int) -> dict[str, float]:
    """Median :func:`lattice_energy` (worse of ``stride`` and ``2 * stride``, periods up to
    1/:data:`LATTICE_MAX_PERIOD` of the side) and median :func:`tv_ratio` at ``2 * stride`` (a lattice of a layer is a pattern of period two cells: the stride
    of the next downsampling), over the maps."""
    lattice, ratio = [], []
    for heat in maps:
        side = min(np.shape(heat))
        periods = [p for p in (stride, 2 * stride) if 2 <= p <= side // LATTICE_MAX_PERIOD]
        lattice.append(max((lattice_energy(heat, p) for p in periods), default=float("nan")))
        cell = 2 * max(stride, 1)
        ratio.append(tv_ratio(heat, cell) if cell <= side // TV_MAX_CELL else float("nan"))
    return {"lattice_energy": float(np.median(lattice)), "tv_ratio": float(np.median(ratio))}
