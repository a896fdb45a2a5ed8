"""``medclass dicom-node``: a DICOM C-STORE node that classifies what it receives and sends a Structured
Report (and, when asked, more objects) back to a PACS (C-STORE) or DICOMweb service (STOW-RS)."""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from medclass.explain.web import explanation_overlays
from medclass.inference.bundle import is_bundle
from medclass.inference.runner import Predictor
from medclass.reporting.model_card import model_card
from medclass.runs import resolve_checkpoint
from medclass.serving.address import check_bindable
from medclass.serving.dicom.fhir import FhirWriter
from medclass.serving.dicom.node import DicomNode, NodeSettings
from medclass.serving.dicom.overlay import OverlayMaker
from medclass.serving.dicom.report import report_builder
from medclass.serving.dicom.senders import CStoreSender, StowSender, parse_peer
from medclass.serving.dicom.spool import Spool
from medclass.utils.errors import ConfigError
from medclass.utils.extras import require_extra

DEFAULT_MODALITIES = ("CR", "DX", "MR")


def parse_modalities(text: str | Sequence[str]) -> tuple[str, ...]:
    """``CR,DX,MR`` as ``("CR", "DX", "MR")``.

    Raises:
        ConfigError: empty, or a value that is not a DICOM modality code (1-16 letters and digits).
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    codes = tuple(item.strip().upper() for item in items if item.strip())
    bad = [c for c in codes if not (c.isalnum() and len(c) <= 16)]
    if not codes or bad:
        raise ConfigError(
            f"--accept-modalities {text!r}: expected modality codes separated by commas, e.g. CR,DX,MR"
        )
    return codes


def destination(
    send_to: str | None, stow_url: str | None, calling_ae: str = "MEDCLASS", flags: str = "--"
) -> CStoreSender | StowSender:
    """Where the results go: exactly one of ``send_to`` (``AE@HOST:PORT``, C-STORE) and ``stow_url`` (STOW-RS).

    ``flags`` prefixes the flag names errors give (``--`` for dicom-node's ``--send-to``, ``--dicom-`` for
    serve's ``--dicom-send-to``).

    Raises:
        ConfigError: neither or both, or a malformed value.
    """
    if (send_to is None) == (stow_url is None):
        raise ConfigError(f"give exactly one destination: {flags}send-to AE@HOST:PORT or {flags}stow-url URL")
    if send_to is not None:
        return CStoreSender(parse_peer(send_to, f"{flags}send-to"), calling_ae)
    return StowSender(str(stow_url), flag=f"{flags}stow-url")


def build_node(
    source: str | Path,
    predictor: Predictor,
    sender: CStoreSender | StowSender,
    spool: Spool,
    settings: NodeSettings,
    codes: str | Path | None = None,
    overlay: bool = False,
    fhir_out: str | Path | None = None,
    say: Callable[[str], None] = print,
) -> DicomNode:
    """The node's pipeline for the loaded ``predictor`` of ``source``: spool, reports (with the overlay and the
    FHIR output when asked) and delivery; shared by ``dicom-node`` (C-STORE in) and ``serve`` (STOW-RS in)."""
    builder = report_builder(source, predictor.meta, model_card(Path(source)), codes)
    if overlay:
        require_extra("explain", "medclass dicom-node --overlay")
        explain = functools.partial(explanation_overlays, predictor)
        builder.extra = [OverlayMaker(explain, builder.model)]
    if fhir_out is not None:
        builder.writers = [FhirWriter(fhir_out, builder.model, builder.codes_of)]
    return DicomNode(predictor, spool, sender, builder, settings, say)


def dicom_node(
    source: str | Path,
    ae_title: str = "MEDCLASS",
    port: int = 11112,
    host: str = "127.0.0.1",
    send_to: str | None = None,
    stow_url: str | None = None,
    accept_modalities: str | Sequence[str] = DEFAULT_MODALITIES,
    spool: str | Path = "dicom-spool",
    codes: str | Path | None = None,
    flag_uncertain: float | None = None,
    fhir_out: str | Path | None = None,
    overlay: bool = False,
    say: Callable[[str], None] = print,
    ready: Callable[[DicomNode], None] | None = None,
) -> None:
    """Run the node until Ctrl+C or SIGTERM; what it received and did not report yet stays in ``spool``.

    Args:
        source: run folder, checkpoint or exported bundle folder.
        ae_title: the node's AE title (1-16 characters).
        port, host: where it listens.
        send_to: ``AE@HOST:PORT`` of the PACS the results go to (C-STORE).
        stow_url: a DICOMweb root the results go to with STOW-RS (instead of ``send_to``).
        accept_modalities: the modalities classified (others are refused).
        spool: the node's spool folder (created; a non-empty folder that is not a spool is refused).
        codes: a ``codes.yaml`` mapping class names to codes (default: the one beside the model, if any).
        flag_uncertain: add the uncertainty flag (predictive entropy above this, nats) to each report.
        fhir_out: a folder: write a FHIR R4 DiagnosticReport + Observations (a Bundle) per study there.
        overlay: also send a Secondary Capture of the default explanation over the input (the explain extra).
        say: where log lines go.
        ready: called with the node once it listens (``node.stop()`` ends it from another thread).

    Raises:
        ConfigError: neither or both destinations, a malformed flag, a busy port, a foreign spool folder.
    """
    if not 0 < len(ae_title.strip()) <= 16 or "\\" in ae_title:
        raise ConfigError(f"--ae-title {ae_title!r}: an AE title has 1-16 characters (no backslash)")
    settings = NodeSettings(ae_title.strip(), parse_modalities(accept_modalities), flag_uncertain)
    sender = destination(send_to, stow_url, settings.ae_title)
    if not is_bundle(source):
        resolve_checkpoint(source)
    check_bindable(host, port)
    store = Spool(spool)
    predictor = Predictor.load(source)
    node = build_node(source, predictor, sender, store, settings, codes, overlay, fhir_out, say)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: node.stop())
    left = len(store.pending())
    say(
        f"dicom-node {settings.ae_title} on {host}:{port}: {', '.join(predictor.classes)}; results to {sender}; "
        f"spool {store.root} ({left} instance(s) left from before)"
    )

    def listening() -> None:
        say(f"listening on {host}:{port}")
        if ready is not None:
            ready(node)

    try:
        node.serve(host, port, listening)
    except KeyboardInterrupt:
        node.stop()
    say(f"dicom-node stopped; {len(store.pending())} instance(s) left in {store.root}")
