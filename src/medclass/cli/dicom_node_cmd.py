"""``medclass dicom-node``: receive DICOM (C-STORE), classify, send back a Structured Report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import console
from medclass.utils.extras import require_extra


def dicom_node(
    source: Annotated[Path, typer.Argument(help="Run folder, checkpoint or exported bundle folder.")],
    ae_title: Annotated[str, typer.Option("--ae-title", help="The node's AE title.")] = "MEDCLASS",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="DICOM port to listen on.")] = 11112,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (loopback unless told).")
    ] = "127.0.0.1",
    send_to: Annotated[
        str | None,
        typer.Option(
            "--send-to",
            help="AE@HOST:PORT of the PACS that stores the results (C-STORE).",
            show_default="none: give it or --stow-url",
        ),
    ] = None,
    stow_url: Annotated[
        str | None,
        typer.Option(
            "--stow-url", help="DICOMweb root to store the results with STOW-RS.", show_default="none"
        ),
    ] = None,
    accept_modalities: Annotated[
        str, typer.Option("--accept-modalities", help="Modalities to classify; others are refused.")
    ] = "CR,DX,MR",
    spool: Annotated[
        Path, typer.Option("--spool", help="Folder where received instances wait until reported.")
    ] = Path("dicom-spool"),
    codes: Annotated[
        Path | None,
        typer.Option(
            "--codes", help="codes.yaml: class name -> {value, scheme, meaning}.", show_default="the model's"
        ),
    ] = None,
    overlay: Annotated[
        bool,
        typer.Option(
            "--overlay/--no-overlay",
            help="Also send the default explanation over the input (Secondary Capture, its own AI series).",
        ),
    ] = False,
    fhir_out: Annotated[
        Path | None,
        typer.Option(
            "--fhir-out",
            help="Folder: a FHIR R4 DiagnosticReport + Observations (Bundle) per study.",
            show_default="none",
        ),
    ] = None,
    flag_uncertain: Annotated[
        float | None,
        typer.Option(
            "--flag-uncertain",
            min=0.0,
            help="Add an uncertainty flag: predictive entropy (nats) above this.",
            show_default="off",
        ),
    ] = None,
) -> None:
    """Run a DICOM node: C-STORE in, a Comprehensive SR per instance out, in the same study (decision support)."""
    require_extra("dicom", "medclass dicom-node")
    from medclass.api.dicom_node import dicom_node as run_node

    run_node(
        source,
        ae_title=ae_title,
        port=port,
        host=host,
        send_to=send_to,
        stow_url=stow_url,
        accept_modalities=accept_modalities,
        spool=spool,
        codes=codes,
        flag_uncertain=flag_uncertain,
        fhir_out=fhir_out,
        overlay=overlay,
        say=lambda line: console.print(line, highlight=False, soft_wrap=True),
    )
