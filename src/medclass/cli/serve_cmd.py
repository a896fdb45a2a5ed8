"""``medclass serve``: the REST API, the Open Inference Protocol and the web page for a run or bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.utils.extras import require_extra


def serve(
    source: Annotated[Path, typer.Argument(help="Run folder, checkpoint or exported bundle folder.")],
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (loopback unless told).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    backend: Annotated[
        str | None,
        typer.Option("--backend", help="torch or onnx.", show_default="torch; a bundle's own runtime"),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    api_key_file: Annotated[
        Path | None,
        typer.Option(
            "--api-key-file", help="File holding the bearer token clients must send.", show_default="no token"
        ),
    ] = None,
    max_batch: Annotated[
        int,
        typer.Option(
            "--max-batch", min=1, help="Most images in one forward pass of concurrent requests (1: off)."
        ),
    ] = 32,
    batch_wait_ms: Annotated[
        float,
        typer.Option(
            "--batch-wait-ms", min=0, help="Wait this long for more requests before a batch (0: never wait)."
        ),
    ] = 0.0,
    dicom_send_to: Annotated[
        str | None,
        typer.Option(
            "--dicom-send-to",
            help="DICOMweb STOW-RS at /dicomweb/studies: send each instance's SR to this PACS (AE@HOST:PORT).",
            show_default="none: no STOW-RS",
        ),
    ] = None,
    dicom_stow_url: Annotated[
        str | None,
        typer.Option(
            "--dicom-stow-url",
            help="DICOMweb STOW-RS at /dicomweb/studies: store each instance's SR at this DICOMweb root.",
            show_default="none",
        ),
    ] = None,
    dicom_spool: Annotated[
        Path | None,
        typer.Option(
            "--dicom-spool",
            help="Folder where STOW-RS instances wait until their SR is delivered.",
            show_default="dicom-spool",
        ),
    ] = None,
) -> None:
    """Serve the model: POST /v1/predict, /v2 (Open Inference Protocol), /metrics, /docs and a web page at /;
    with --dicom-send-to or --dicom-stow-url also DICOMweb STOW-RS (POST /dicomweb/studies) with dicom-node's SRs."""
    require_extra("serve", "medclass serve")
    if dicom_send_to or dicom_stow_url or dicom_spool:
        require_extra("dicom", "medclass serve --dicom-send-to/--dicom-stow-url")
    from medclass.api.serve import serve as run_server

    run_server(
        source,
        host=host,
        port=port,
        backend=backend,
        workers=workers,
        api_key_file=api_key_file,
        batching=(max_batch, batch_wait_ms),
        dicom_send_to=dicom_send_to,
        dicom_stow_url=dicom_stow_url,
        dicom_spool=dicom_spool,
    )
