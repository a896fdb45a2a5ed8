"""``medclass export``: a run as an ONNX or TorchScript bundle folder with ``medclass.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import console
from medclass.utils.extras import require_extra


def export(
    source: Annotated[Path, typer.Argument(help="Run folder (its best checkpoint) or checkpoint file.")],
    fmt: Annotated[str, typer.Option("--format", help="onnx or torchscript.")] = "onnx",
    out: Annotated[
        Path | None, typer.Option("--out", help="Bundle folder.", show_default="RUN/export-FORMAT")
    ] = None,
    opset: Annotated[int, typer.Option("--opset", min=7, help="ONNX opset.")] = 17,
    quantize: Annotated[
        str | None,
        typer.Option(
            "--quantize", help="'dynamic': int8 weights (onnxruntime), ONNX only.", show_default="none"
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite/--no-overwrite", help="Replace an existing bundle folder.")
    ] = False,
) -> None:
    """Export a trained model with its preprocessing and decision rule; checks it against PyTorch."""
    if fmt == "onnx":  # TorchScript needs only torch
        require_extra("export", "medclass export --format onnx")
    from medclass.api.export import export as run_export

    info = run_export(source, fmt, out=out, opset=opset, quantize=quantize, overwrite=overwrite)
    console.print(f"{info['format']} bundle written to {info['path']}")
    check = info["check"]
    if check is None:
        console.print("no test split to compare on (a checkpoint outside a run folder)")
        return
    console.print(
        f"{check['split']} split, {check['images']} images: max |p_bundle - p_torch| = {check['max_abs_diff']:.2e}, "
        f"agreement {check['agreement']:.4f}, accuracy {check['accuracy_torch']:.4f} (torch) -> "
        f"{check['accuracy_bundle']:.4f} (bundle, change {check['accuracy_bundle'] - check['accuracy_torch']:+.4f})"
    )
