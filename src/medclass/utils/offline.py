"""The one answer to "may medclass use the network?" (pretrained weights are its only download).

Offline when ``MEDCLASS_OFFLINE`` (set by ``medclass train --offline``) or Hugging Face's own ``HF_HUB_OFFLINE``
is true. Both are read at each call, so a test or a command can switch mode after import.
"""

from __future__ import annotations

import os
import sys

OFFLINE_ENV = "MEDCLASS_OFFLINE"
HF_OFFLINE_ENV = "HF_HUB_OFFLINE"
_TRUE = {"1", "true", "yes", "on"}


def is_offline() -> bool:
    """True when ``MEDCLASS_OFFLINE`` or ``HF_HUB_OFFLINE`` is set to 1/true/yes/on."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in (OFFLINE_ENV, HF_OFFLINE_ENV))


def set_offline() -> None:
    """Switch this process (and its children) to offline: medclass, Hugging Face hub and timm use no network.

    ``huggingface_hub`` reads ``HF_HUB_OFFLINE`` when it is imported; if it already is, its flag is set too.
    """
    os.environ[OFFLINE_ENV] = "1"
    os.environ[HF_OFFLINE_ENV] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
