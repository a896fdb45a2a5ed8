"""The one conversion from decoded pixels to the tensor layout the transforms and models take."""

from __future__ import annotations

import numpy as np
import torch


def to_chw_tensor(pixels: np.ndarray) -> torch.Tensor:
    """An ``H x W x C`` uint8 array as a ``C x H x W`` uint8 tensor.

    The pixels are copied: decoded arrays and memory-mapped cache rows may be read-only, which torch does not
    support.
    """
    return torch.from_numpy(np.array(pixels)).permute(2, 0, 1).contiguous()
