"""``medclass profile`` as a Python function: parameters, per-layer table, multiply-adds and latency of a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medclass.config import load_config
from medclass.models.profile import profile_config
from medclass.runs import prepare_output_file
from medclass.utils.io import write_json


def profile(
    config: str | Path | None = None,
    model: str | None = None,
    image_size: int | None = None,
    in_chans: int | None = None,
    num_classes: int = 2,
    overrides: list[str] | None = None,
    batch_sizes: tuple[int, ...] = (1, 32),
    repeats: int = 5,
    threads: int | None = None,
    device: str = "cpu",
    json_out: str | Path | None = None,
) -> dict[str, Any]:
    """Build the model of a config file (or the defaults) plus the given settings, untrained, and profile it.

    Args:
        config: a run config YAML (its model section, ``data.image_size``, ``data.channels``); None: defaults.
        model: ``model.name`` (a registry name, ``timm:<name>`` or ``cnn``).
        image_size: ``data.image_size``: the input side in pixels.
        in_chans: input channels (default ``data.channels``).
        num_classes: classifier outputs.
        overrides: ``--set`` strings (``key=value``) applied to the config.
        batch_sizes: batch sizes to time; empty to skip the latency measurement.
        repeats: timed runs per batch size (the median and the fastest are reported).
        threads: CPU threads for torch (default: torch's).
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        json_out: also write the report here as JSON (replaced when it exists).

    Returns:
        The report: ``model``, ``num_classes``, ``image_size``, ``in_chans``, ``params``, ``macs``, ``gmacs``,
        ``flops``, ``convention``, ``layers``, ``latency``, ``device``, ``threads``, ``torch``
        (:func:`medclass.models.profile.profile_model`).

    Raises:
        ConfigError: a bad config, override or device.

    Example:
        >>> profile(model="resnet18", image_size=224, batch_sizes=())["gmacs"]  # doctest: +SKIP
    """
    cfg = load_config(config, overrides or [], {"model.name": model, "data.image_size": image_size})
    if json_out is not None:
        prepare_output_file(json_out, overwrite=True, flag="--json")
    report = profile_config(cfg, num_classes, in_chans, batch_sizes, repeats, threads, device)
    if json_out is not None:
        write_json(json_out, report)
    return report
