"""The Open Inference Protocol (KServe v2) over HTTP/REST: server live, ready and metadata, model ready and
metadata, and inference, with the binary tensor data extension (tensors as little-endian bytes after the JSON,
whose length the ``Inference-Header-Content-Length`` header gives). Clients such as ``tritonclient[http]``
send JSON without a ``Content-Type``; it is read as JSON.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from medclass.serving.routes import ERRORS
from medclass.serving.schemas import (
    InferRequest,
    InferResponse,
    ModelMetadata,
    ModelReady,
    ServerMetadata,
    TensorMeta,
)
from medclass.serving.settings import ApiError

router = APIRouter()
HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ["binary_tensor_data"]
OUTPUT_TYPES = {"probabilities": "FP32", "prediction": "INT64"}  # the model's outputs, in their order
BINARY_DTYPES = {"FP32": "<f4", "INT64": "<i8"}
MAX_BATCH = 256


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` references written out (OpenAPI resolves ``#/...`` against the document)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: walk(value) for key, value in node.items()}
        return [walk(item) for item in node] if isinstance(node, list) else node

    return walk(schema)


INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inline(InferRequest.model_json_schema())}},
    }
}


def _v2_model(request: Request, name: str) -> Any:
    """The served model if ``name`` is its name; every per-model endpoint answers 503 until it has loaded."""
    _require_ready(request)
    if name != request.app.state.name:
        raise ApiError(
            404, "model_not_found", f"no model '{name}'; this server has '{request.app.state.name}'"
        )
    return request.app.state.predictor


def _require_ready(request: Request) -> None:
    if not getattr(request.app.state, "ready", False):
        raise ApiError(503, "not_ready", "the model is still loading")


@router.get("/v2", responses=ERRORS)
async def v2_server_metadata() -> ServerMetadata:
    import medclass

    return ServerMetadata(name="medclass", version=medclass.__version__, extensions=EXTENSIONS)


@router.get("/v2/health/ready", responses=ERRORS)
async def v2_ready(request: Request) -> dict[str, bool]:
    _require_ready(request)  # the status code is the answer (200 ready, else not), as probes read it
    return {"ready": True}


@router.get("/v2/health/live")
async def v2_live() -> dict[str, bool]:
    return {"live": True}


@router.get("/v2/models/{name}/ready", responses=ERRORS)
async def v2_model_ready(request: Request, name: str) -> ModelReady:
    _v2_model(request, name)
    return ModelReady(name=name, ready=True)


@router.get("/v2/models/{name}", responses=ERRORS)
async def v2_metadata(request: Request, name: str) -> ModelMetadata:
    predictor = _v2_model(request, name)
    meta = predictor.meta
    size, channels = meta.preprocess.image_size, meta.preprocess.channels
    k = len(predictor.classes)
    return ModelMetadata(
        name=name,
        platform="medclass",
        inputs=[TensorMeta(name="input", datatype="FP32", shape=[-1, channels, size, size])],
        outputs=[
            TensorMeta(name="probabilities", datatype="FP32", shape=[-1, k]),
            # A multi-label model decides every label: one 0/1 per label and image.
            TensorMeta(name="prediction", datatype="INT64", shape=[-1, k] if meta.is_multilabel else [-1]),
        ],
    )


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _split_body(request: Request, raw: bytes) -> tuple[bytes, bytes]:
    """The JSON header and the binary tensor data after it (empty without the extension's header)."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise ApiError(415, "unsupported_media_type", f"Content-Encoding: {encoding} is not supported")
    length = request.headers.get(HEADER_LENGTH)
    if length is None:
        content_type = request.headers.get("content-type")
        if content_type and not _is_json(content_type):
            detail = (
                f"Content-Type: {content_type}: send JSON (or JSON and binary tensors with {HEADER_LENGTH})"
            )
            raise ApiError(415, "unsupported_media_type", detail)
        return raw, b""
    text = length.strip()
    n = int(text) if text.isascii() and text.isdigit() else -1  # "\u00b2" is a digit to isdigit, not to int
    if not 0 < n <= len(raw):
        detail = f"{HEADER_LENGTH}: {length[:40]!r} is not a length of the JSON in a body of {len(raw)} bytes"
        raise ApiError(400, "invalid_request", detail)
    return raw[:n], raw[n:]


def _parse(head: bytes) -> InferRequest:
    """The inference request in ``head``; errors as FastAPI's own body validation answers them (422)."""
    try:
        return InferRequest.model_validate_json(head)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors(include_context=False)]
        raise RequestValidationError(errors) from None


def _binary_inputs(body: InferRequest, tail: bytes) -> dict[str, bytes]:
    """Each binary input's bytes: the inputs with ``binary_data_size`` take the tail in their order."""
    blobs, offset = {}, 0
    for tensor in body.inputs:
        size = (tensor.parameters or {}).get("binary_data_size")
        if size is None:
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(tail):
            raise ApiError(
                400, "invalid_tensor", f"input '{tensor.name}': binary_data_size {size!r} does not fit"
            )
        blobs[tensor.name], offset = tail[offset : offset + size], offset + size
    if offset != len(tail):
        detail = f"{len(tail)} bytes after the JSON, but the inputs' binary_data_size add up to {offset}"
        raise ApiError(400, "invalid_tensor", detail)
    return blobs


def _input_array(body: InferRequest, blobs: dict[str, bytes], channels: int, size: int) -> np.ndarray:
    """The request's ``FP32 [N, C, H, W]`` input, checked."""
    if len(body.inputs) != 1:
        raise ApiError(400, "invalid_request", "exactly one input tensor 'input' is expected")
    tensor = body.inputs[0]
    if tensor.datatype != "FP32" or len(tensor.shape) != 4 or tensor.shape[1:] != [channels, size, size]:
        raise ApiError(400, "invalid_tensor", f"expected FP32 [N, {channels}, {size}, {size}]")
    n = tensor.shape[0]
    count = n * channels * size * size
    if not 0 < n <= MAX_BATCH:
        raise ApiError(400, "invalid_tensor", f"N = {n}: expected 1..{MAX_BATCH} images")
    if tensor.name in blobs:
        if len(blobs[tensor.name]) != count * 4:
            raise ApiError(
                400, "invalid_tensor", f"{len(blobs[tensor.name])} bytes; the shape needs {count * 4}"
            )
        array = np.frombuffer(blobs[tensor.name], dtype="<f4").astype(np.float32).reshape(tensor.shape)
    elif tensor.data is None or len(tensor.data) != count:
        raise ApiError(400, "invalid_tensor", "data length does not match the shape")
    else:
        try:
            array = np.asarray(tensor.data, dtype=np.float32).reshape(tensor.shape)
        except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: an integer beyond any float
            raise ApiError(400, "invalid_tensor", f"data must be numbers ({exc})") from exc
    if not np.isfinite(array).all():
        raise ApiError(400, "invalid_tensor", "data holds NaN or infinity")
    return array


def _wanted_outputs(body: InferRequest) -> list[tuple[str, bool]]:
    """The outputs to answer, each with whether it goes as binary data; an unknown one is a 400 naming it."""
    binary = (body.parameters or {}).get("binary_data_output") is True
    if not body.outputs:
        return [(name, binary) for name in OUTPUT_TYPES]
    unknown = [o.name for o in body.outputs if o.name not in OUTPUT_TYPES]
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise ApiError(400, "unknown_output", f"no output {names}; this model has {', '.join(OUTPUT_TYPES)}")
    wanted = {}
    for output in body.outputs:
        parameters = output.parameters or {}
        if parameters.get("classification"):
            detail = f"output '{output.name}': the classification extension is not supported"
            raise ApiError(400, "invalid_request", detail)
        wanted[output.name] = parameters.get("binary_data", binary) is True
    return list(wanted.items())


def _answer(name: str, request_id: str | None, wanted: list[tuple[str, bool]], values: dict) -> Response:
    """The inference response: JSON, or JSON then the binary outputs' bytes (with its length in a header)."""
    outputs, blobs = [], []
    for output, binary in wanted:
        array, datatype = values[output], OUTPUT_TYPES[output]
        entry: dict[str, Any] = {"name": output, "shape": list(array.shape), "datatype": datatype}
        if binary:
            blobs.append(array.astype(BINARY_DTYPES[datatype]).tobytes())
            entry["parameters"] = {"binary_data_size": len(blobs[-1])}
        else:
            entry["data"] = array.ravel().tolist()
        outputs.append(entry)
    document = {"model_name": name, "model_version": None, "id": request_id, "outputs": outputs}
    if not blobs:
        return JSONResponse(document)
    head = json.dumps(document).encode()
    headers = {HEADER_LENGTH: str(len(head))}
    return Response(head + b"".join(blobs), media_type="application/octet-stream", headers=headers)


@router.post(
    "/v2/models/{name}/infer", responses=ERRORS, response_model=InferResponse, openapi_extra=INFER_BODY
)
async def v2_infer(request: Request, name: str) -> Response:
    """Normalised ``FP32 [N, C, H, W]`` input -> ``probabilities`` and ``prediction`` (the stored rule)."""
    import torch

    predictor = _v2_model(request, name)
    head, tail = _split_body(request, await request.body())
    body = _parse(head)
    blobs = _binary_inputs(body, tail)
    size, channels = predictor.meta.preprocess.image_size, predictor.meta.preprocess.channels
    array = _input_array(body, blobs, channels, size)
    wanted = _wanted_outputs(body)
    probs, predicted = await run_in_threadpool(
        request.app.state.batcher.predict_tensor, torch.from_numpy(array)
    )
    values = {
        "probabilities": np.asarray(probs, np.float32),
        "prediction": np.asarray(predicted).astype(np.int64),
    }
    return _answer(name, body.id, wanted, values)
