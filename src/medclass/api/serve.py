"""``medclass serve``: a run folder or bundle behind the HTTP API (FastAPI + uvicorn)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from medclass.explain.web import explanation_pngs
from medclass.inference.bundle import is_bundle, load_bundle, read_bundle_info
from medclass.inference.runner import Predictor
from medclass.reporting.model_card import model_card
from medclass.runs import resolve_checkpoint
from medclass.serving.address import check_bindable
from medclass.serving.app import ServeSettings, create_app
from medclass.serving.export import export_model
from medclass.serving.settings import log_config
from medclass.utils.errors import ConfigError

BACKENDS = ("torch", "onnx")
ENV_ARGS = "MEDCLASS_SERVE_ARGS"


def check_source(source: str | Path, backend: str | None) -> None:
    """Fail with a one-line error before any model loads or worker starts.

    Raises:
        ConfigError: an unknown backend, or a bundle whose runtime is not the one asked for.
        RunDirError: ``source`` is neither a bundle nor a run folder or checkpoint.
    """
    source = Path(source)
    if backend not in (None, *BACKENDS):
        raise ConfigError(f"--backend {backend}: expected one of {', '.join(BACKENDS)}")
    if not is_bundle(source):
        resolve_checkpoint(source)
        return
    fmt = read_bundle_info(source)["format"]
    if (backend == "torch" and fmt == "onnx") or (backend == "onnx" and fmt != "onnx"):
        raise ConfigError(
            f"{source}: a {fmt} bundle; give the run folder to serve it with --backend {backend}"
        )


def load_predictor(source: str | Path, backend: str | None, workdir: Path) -> Predictor:
    """The predictor to serve: a bundle as exported, a run in PyTorch or exported to ONNX into ``workdir``."""
    check_source(source, backend)
    if backend == "onnx" and not is_bundle(source):
        export_model(source, "onnx", workdir)
        return Predictor.load(workdir)
    return Predictor.load(source)


DicomPipeline = Callable[[Predictor], Any]  # the loaded predictor -> a DicomNode on it


def dicom_pipeline(
    source: str | Path, send_to: str | None, stow_url: str | None, spool: str | Path | None
) -> DicomPipeline:
    """What ``POST /dicomweb/studies`` hands its instances to: dicom-node's pipeline (spool, SR, delivery to
    ``send_to`` or ``stow_url``) for the model serve loads. Checked now, before the model loads.

    Raises:
        ConfigError: neither or both destinations, a malformed one, a foreign spool folder.
    """
    from medclass.api.dicom_node import build_node, destination
    from medclass.serving.dicom.node import NodeSettings
    from medclass.serving.dicom.spool import Spool

    sender = destination(send_to, stow_url, flags="--dicom-")
    store = Spool("dicom-spool" if spool is None else spool, flag="--dicom-spool")
    say = logging.getLogger("medclass.serve.dicom").info
    return lambda predictor: build_node(source, predictor, sender, store, NodeSettings(), say=say)


def build_app(
    source: str | Path,
    backend: str | None = None,
    settings: ServeSettings | None = None,
    name: str | None = None,
    dicom: DicomPipeline | None = None,
) -> FastAPI:
    """The app serving ``source`` (run folder, checkpoint or bundle folder); the model loads now.

    ``name`` is the model's name in the API (default: the folder name of ``source``); ``dicom`` (from
    :func:`dicom_pipeline`) turns on DICOMweb STOW-RS.
    """
    workdir = Path(tempfile.mkdtemp(prefix="medclass-serve-"))
    predictor = load_predictor(source, backend, workdir)
    name = name or Path(source).resolve().name
    node = None if dicom is None else dicom(predictor)
    app = create_app(predictor, settings, name=name, explainer=explanation_pngs, dicom_node=node)
    app.state.card = model_card(Path(source))
    return app


def app_from_env() -> FastAPI:
    """The app described by ``$MEDCLASS_SERVE_ARGS`` (how uvicorn's worker processes build it); the API token
    is read from the key file it names."""
    args = json.loads(os.environ[ENV_ARGS])
    max_batch, wait_ms = args["batching"]
    key = read_api_key(args["api_key_file"]) if args["api_key_file"] else None
    settings = ServeSettings(api_key=key, max_batch=max_batch, batch_wait_ms=wait_ms)
    return build_app(args["source"], args["backend"], settings, name=args["name"])


def _serve_workers(
    source: Path,
    backend: str | None,
    key_file: Path | None,
    workers: int,
    batching: tuple[int, float],
    **where: Any,
) -> None:
    """uvicorn's multi-process mode: each worker builds the app from ``$MEDCLASS_SERVE_ARGS`` (an app object
    cannot be handed to worker processes). A run served with ONNX is exported once, here, not per worker.

    The environment of a process is readable by every process of the user, so it carries the key file's path,
    never the key."""
    import uvicorn

    name = source.resolve().name
    if backend == "onnx" and not is_bundle(source):
        bundle = Path(tempfile.mkdtemp(prefix="medclass-serve-"))
        export_model(source, "onnx", bundle)
        source, backend = bundle, None
    elif is_bundle(source):
        load_bundle(source)  # a bundle whose files disagree is refused here (exit 2), not in every worker
    key_path = str(key_file.resolve()) if key_file else None
    os.environ[ENV_ARGS] = json.dumps(
        {
            "source": str(source),
            "backend": backend,
            "api_key_file": key_path,
            "name": name,
            "batching": list(batching),
        }
    )
    uvicorn.run(
        "medclass.api.serve:app_from_env", factory=True, workers=workers, log_config=log_config(), **where
    )


def read_api_key(path: str | Path) -> str:
    """The token in ``path`` (surrounding whitespace stripped).

    Raises:
        ConfigError: the file is missing or empty.
    """
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"--api-key-file {path}: cannot read it ({exc.strerror})") from exc
    if not key:
        raise ConfigError(f"--api-key-file {path}: the file is empty; put the token on its first line")
    return key


def serve(
    source: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    backend: str | None = None,
    workers: int = 1,
    api_key_file: str | Path | None = None,
    batching: tuple[int, float] = (32, 0.0),
    dicom_send_to: str | None = None,
    dicom_stow_url: str | None = None,
    dicom_spool: str | Path | None = None,
) -> None:
    """Serve ``source`` until interrupted (see ``medclass serve --help``); ``batching`` is ``(max_batch,
    batch_wait_ms)`` of :class:`~medclass.serving.settings.ServeSettings`. With ``dicom_send_to`` (``AE@HOST:PORT``)
    or ``dicom_stow_url``, ``POST /dicomweb/studies`` (STOW-RS) classifies DICOM instances like ``dicom-node``
    and sends their SRs there, spooled in ``dicom_spool``.

    Raises:
        ConfigError: a bad flag value, a busy port, DICOM flags with several workers.
    """
    import uvicorn

    key = read_api_key(api_key_file) if api_key_file else None
    check_source(source, backend)
    check_bindable(host, port)  # a busy port fails now, not after the model has loaded
    dicom = None
    if dicom_send_to is not None or dicom_stow_url is not None or dicom_spool is not None:
        if workers > 1:
            raise ConfigError(
                "--dicom-send-to/--dicom-stow-url: serve DICOMweb with --workers 1 (one spool, one reporter)"
            )
        dicom = dicom_pipeline(source, dicom_send_to, dicom_stow_url, dicom_spool)
    if workers > 1:
        key_file = Path(api_key_file) if api_key_file else None
        _serve_workers(Path(source), backend, key_file, workers, batching, host=host, port=port)
        return
    settings = ServeSettings(api_key=key, max_batch=batching[0], batch_wait_ms=batching[1])
    app = build_app(source, backend, settings, dicom=dicom)
    uvicorn.run(app, host=host, port=port, log_config=log_config())
