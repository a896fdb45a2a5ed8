"""``medclass export``: a run as a self-describing bundle, checked against PyTorch on the run's test split."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from medclass.assessment.agreement import bundle_agreement
from medclass.reporting.model_card import model_card_markdown
from medclass.runs import (
    check_output_dir,
    check_writable,
    prepare_output_dir,
    removed_if_unstarted,
    resolve_checkpoint,
)
from medclass.runs.bundle_layout import BUNDLE_FILE, BUNDLE_KIND, MODEL_CARD_FILE, default_bundle_dir
from medclass.serving.export import DEFAULT_OPSET, check_export_options, export_model

log = logging.getLogger(__name__)


def export(
    source: str | Path,
    fmt: str = "onnx",
    out: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
    quantize: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export a run folder or checkpoint to ``out`` and compare it with PyTorch on the run's test split.

    Args:
        source: run folder or checkpoint file.
        fmt: ``onnx`` or ``torchscript``.
        out: bundle folder (default ``<run>/export-<format>``); an existing one is an error unless ``overwrite``.
        opset: ONNX opset.
        quantize: ``dynamic``: onnxruntime dynamic int8 quantization of the weights.
        overwrite: replace an existing bundle folder.

    Returns:
        the bundle's ``medclass.json`` contents, with ``path`` and ``check`` (the test-split comparison, or None
        for a checkpoint outside a run folder); ``check`` is also written into ``medclass.json``.

    Raises:
        ConfigError: a bad format, quantization or opset; RunDirError: a missing source, or an ``out`` that
        may not or cannot be written. Both before any work; an export that fails later removes the folder it
        created, so the same command can run again without ``--overwrite``.
    """
    resolve_checkpoint(source)  # a missing run fails before the output folder is claimed
    check_export_options(fmt, opset, quantize)
    target = Path(out) if out is not None else default_bundle_dir(source, fmt, quantize)
    check_output_dir(target, BUNDLE_KIND, overwrite=overwrite)
    check_writable(target)
    claimed = prepare_output_dir(target, BUNDLE_KIND, overwrite=overwrite)
    folder = claimed.path
    with removed_if_unstarted(claimed, lambda _: False, log.warning, reason="the export did not finish"):
        exported = export_model(source, fmt, folder, opset=opset, quantize=quantize)
        info = {**exported.info, "check": bundle_agreement(source, folder)}
        (folder / BUNDLE_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        (folder / MODEL_CARD_FILE).write_text(model_card_markdown(Path(source)), encoding="utf-8")
    return {**info, "path": str(folder)}
