"""The HTTP server: ``/v1`` (uploaded files -> decisions), the Open Inference Protocol ``/v2`` (tensors), health,
Prometheus metrics and the web page. Built by :func:`create_app`; every decision goes through
:class:`~medclass.inference.runner.Predictor`, so preprocessing and the decision rule are those of training.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from medclass.serving.batcher import ModelBatcher
from medclass.serving.settings import ApiError, ServeSettings, error_body

ACCESS_LOG = logging.getLogger("medclass.serve.access")
OPEN_PATHS = {"/healthz", "/readyz", "/v2/health/ready", "/v2/health/live"}


def _metrics(app: FastAPI) -> None:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry()
    app.state.registry = registry
    app.state.requests = Counter("medclass_requests", "HTTP requests", ["path", "status"], registry=registry)
    app.state.latency = Histogram("medclass_request_seconds", "Request latency", ["path"], registry=registry)
    app.state.errors = Counter("medclass_errors", "Client and server errors", ["reason"], registry=registry)
    app.state.batch_images = Histogram(
        "medclass_batch_images",
        "Images per forward pass (requests batched together)",
        buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        registry=registry,
    )


def create_app(
    predictor: Any,
    settings: ServeSettings | None = None,
    name: str = "medclass",
    explainer: Any = None,
    dicom_node: Any = None,
) -> FastAPI:
    """The FastAPI app serving ``predictor`` (a loaded :class:`Predictor`) under ``settings``.

    ``dicom_node`` (a :class:`~medclass.serving.dicom.node.DicomNode` on the same predictor) answers DICOMweb
    STOW-RS at ``/dicomweb/studies``; its worker runs while the app does (None: that route answers 404 naming the flags).

    ``explainer(predictor, paths, targets, cache_dir=...) -> [(image_png_b64, heatmap_png_b64)]`` answers ``?explain=gradcam``
    (None: that option is refused with a 400).
    """
    settings = settings or ServeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.predictor, app.state.settings, app.state.name = predictor, settings, name
        app.state.explainer = explainer
        app.state.batcher = ModelBatcher(
            predictor, settings.max_batch, settings.batch_wait_ms, on_batch=app.state.batch_images.observe
        )
        app.state.dicom_node = dicom_node
        worker = None
        if dicom_node is not None:
            dicom_node.model_lock = app.state.batcher.lock  # one model, one forward pass at a time
            worker = dicom_node.start_worker()
        app.state.ready = True
        yield
        app.state.ready = False
        if worker is not None:
            dicom_node.stop()
            worker.join(timeout=30)
        app.state.batcher.close()

    app = FastAPI(title="medclass", lifespan=lifespan)
    app.state.ready = False
    _metrics(app)
    _handlers(app)
    _middleware(app, settings)
    from medclass.serving import protocol, routes, stow

    app.include_router(routes.router)
    app.include_router(protocol.router)
    app.include_router(stow.router)
    return app


def _authorized(request: Request, key: str | None) -> bool:
    """Health endpoints are open; everything else (the API, /docs, /openapi.json, the page) needs the token."""
    if key is None or request.url.path in OPEN_PATHS:
        return True
    given = request.headers.get("authorization", "")
    token = given.removeprefix("Bearer ").strip() if given.startswith("Bearer ") else ""
    return hmac.compare_digest(token.encode(), key.encode())


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        request.app.state.errors.labels(exc.error).inc()
        return JSONResponse(error_body(exc.error, exc.detail, exc.file), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        request.app.state.errors.labels("invalid_request").inc()
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse(error_body("invalid_request", f"{where}: {first.get('msg', 'invalid')}"), 422)

    # Starlette's class (FastAPI's is a subclass): the errors Starlette raises itself, such as a malformed
    # multipart body or a 404 for an unknown path, get the one JSON shape too.
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        request.app.state.errors.labels(f"http_{exc.status_code}").inc()
        return JSONResponse(error_body(f"http_{exc.status_code}", str(exc.detail)), exc.status_code)


def _middleware(app: FastAPI, settings: ServeSettings) -> None:
    @app.middleware("http")
    async def access_log(request: Request, call_next: Any) -> Response:
        start = time.perf_counter()
        try:
            if _authorized(request, settings.api_key):
                response = await call_next(request)
            else:
                request.app.state.errors.labels("unauthorized").inc()
                detail = "a valid 'Authorization: Bearer <token>' header is required"
                response = JSONResponse(error_body("unauthorized", detail), 401)
        except Exception:  # a bug: answered as a 500 in the one JSON shape, logged without request data
            logging.getLogger("medclass.serve").exception("internal error on %s", request.url.path)
            request.app.state.errors.labels("internal").inc()
            response = JSONResponse(error_body("internal", "internal server error"), 500)
        elapsed = time.perf_counter() - start
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        request.app.state.requests.labels(path, str(response.status_code)).inc()
        request.app.state.latency.labels(path).observe(elapsed)
        # Path and status only: never headers (tokens), bodies (images) or query values.
        ACCESS_LOG.info(
            json.dumps(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "ms": round(elapsed * 1000, 2),
                    "client": request.client.host if request.client else None,
                }
            )
        )
        return response
