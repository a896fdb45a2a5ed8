"""The endpoints of :func:`medclass.serving.app.create_app` but the Open Inference Protocol's
(:mod:`medclass.serving.protocol`)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from medclass.config.schema import IMAGE_EXTENSIONS
from medclass.data.multilabel import encode
from medclass.inference.decision import uncertain
from medclass.inference.runner import Predictions
from medclass.serving.export import label_rules
from medclass.serving.schemas import (
    ErrorResponse,
    FileResult,
    LabelDecision,
    LabelFileResult,
    ModelInfo,
    PredictResponse,
)
from medclass.serving.settings import ApiError, page_html
from medclass.utils.errors import ConfigError
from medclass.utils.extras import MissingExtraError

router = APIRouter()
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 413, 415, 422)
}
UPLOAD_CHUNK = 1 << 20
MAX_LABEL_CHARS = 255  # the longest file name the answer repeats


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page() -> HTMLResponse:
    return HTMLResponse(page_html())


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses=ERRORS)
async def readyz(request: Request) -> dict[str, str]:
    if not getattr(request.app.state, "ready", False):
        raise ApiError(503, "not_ready", "the model is still loading")
    return {"status": "ready"}


# Unset fields are left out: a single-label model's answer has no task and labels keys, as before.
@router.get("/v1/model", responses=ERRORS, response_model_exclude_unset=True)
async def model_info(request: Request) -> ModelInfo:
    state = request.app.state
    meta = state.predictor.meta
    classes = list(meta.classes)
    return ModelInfo(
        name=state.name,
        classes=classes,
        positive_class=meta.positive_class,
        image_size=meta.preprocess.image_size,
        channels=meta.preprocess.channels,
        temperature=float(meta.decision.temperature),
        threshold=meta.decision.threshold,
        backend=type(state.predictor.model).__name__,
        card=getattr(state, "card", {}) or {},
        **(label_rules(meta) if meta.is_multilabel else {}),
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)


def upload_label(filename: str | None, index: int) -> str:
    """What the answer calls an upload: the client's file name without folders and control characters, at
    most :data:`MAX_LABEL_CHARS` long (``upload-<index>`` when nothing is left). Only a label, never a path."""
    name = re.split(r"[/\\]", filename or "")[-1]
    name = "".join(c for c in name if c.isprintable())[:MAX_LABEL_CHARS]
    return name if name.strip(". ") else f"upload-{index}"


def _stored_name(filename: str, index: int) -> str:
    """The file name an upload is saved under: made by the server, with the client's name's image extension
    (the readers choose DICOM, NIfTI or PIL by it) when it has a known one."""
    lower = filename.lower()
    suffix = max((ext for ext in IMAGE_EXTENSIONS if lower.endswith(ext)), key=len, default="")
    return f"upload-{index:03d}{suffix}"


async def _save_uploads(files: list[UploadFile], folder: Path, max_bytes: int) -> list[tuple[str, str]]:
    saved = []
    for index, upload in enumerate(files):
        name = upload_label(upload.filename, index)
        target = folder / _stored_name(upload.filename or "", index)
        size = 0
        with target.open("wb") as handle:
            while chunk := await upload.read(UPLOAD_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ApiError(413, "file_too_large", f"larger than {max_bytes} bytes", name)
                handle.write(chunk)
        if size == 0:
            raise ApiError(400, "empty_file", "the upload is empty", name)
        saved.append((name, str(target)))
    return saved


def _check_pixels(saved: list[tuple[str, str]], max_pixels: int) -> None:
    """The size each upload declares (image header, DICOM Rows/Columns, NIfTI dims), before any decoding."""
    from medclass.data.limits import too_large
    from medclass.data.readers import ImageTooLarge, UnreadableImage, image_info

    for name, path in saved:
        try:
            info = image_info(path)
        except ImageTooLarge as exc:  # over the readers' own limit
            raise ApiError(413, "image_too_large", exc.reason, name) from None
        except UnreadableImage:  # not an image: the readers say why (422)
            continue
        reason = too_large((info.height, info.width), max_pixels)
        if reason is not None:
            raise ApiError(413, "image_too_large", reason, name)


def _results(state: Any, saved: list[tuple[str, str]], mc_dropout: int, folder: str) -> list[FileResult]:
    """The decisions for the saved uploads; their cache entries go into the request's own ``folder``."""
    predictor, paths = state.predictor, [p for _, p in saved]
    if mc_dropout:
        with state.batcher.lock:
            result = predictor.predict_files(paths, mc_dropout=mc_dropout, cache_dir=folder)
    else:
        result = state.batcher.predict_files(paths, cache_dir=folder)
    name_of = {path: name for name, path in saved}
    for path, reason in result.failures.items():
        raise ApiError(422, "unreadable_image", reason.splitlines()[0][:300], name_of[path])
    if predictor.meta.is_multilabel:
        return [label_result(name_of[p], predictor.classes, result, i) for i, p in enumerate(result.paths)]
    classes, decision = predictor.classes, predictor.meta.decision
    above = decision.above_threshold(result.probs)
    flagged = None if result.entropy is None else decision.uncertain(result.entropy, len(classes))
    out = []
    for i, path in enumerate(result.paths):
        probs = {c: float(p) for c, p in zip(classes, result.probs[i], strict=True)}
        k = int(result.predicted[i])
        entropy = None if result.entropy is None else float(result.entropy[i])
        out.append(
            FileResult(
                file=name_of[path],
                prediction=classes[k],
                probabilities=probs,
                confidence=float(result.probs[i, k]),
                threshold=decision.threshold,
                above_threshold=None if above is None else bool(above[i]),
                entropy=entropy,
                std=None if result.std is None else float(result.std[i]),
                uncertain=None if flagged is None else bool(flagged[i]),
                passes=result.passes,
            )
        )
    return out


def label_result(file: str, labels: list[str], result: Predictions, i: int) -> LabelFileResult:
    """A multi-label model's answer for the ``i``-th file of ``result``: each label's probability and decision
    (the mean over the passes with MC dropout, with the uncertainty of :class:`LabelFileResult`)."""
    probs, positive, spread = result.probs[i], result.predicted[i], result.label_std
    entropy = None if result.entropy is None else float(result.entropy[i])
    return LabelFileResult(
        file=file,
        prediction=encode(np.asarray(positive, dtype=np.float64), labels),
        labels={
            name: LabelDecision(
                probability=float(probs[j]),
                positive=bool(positive[j]),
                std=None if spread is None else float(spread[i, j]),
            )
            for j, name in enumerate(labels)
        },
        entropy=entropy,
        std=None if result.std is None else float(result.std[i]),
        # The one uncertainty rule with its default limit: each label is a binary decision (half of ln 2).
        uncertain=None if entropy is None else bool(uncertain(entropy, 2)),
        passes=result.passes,
    )


def _add_overlays(state: Any, saved: list[tuple[str, str]], results: list[FileResult], folder: str) -> None:
    if state.explainer is None or not any(True for _ in state.predictor.model.parameters()):
        raise ApiError(
            400, "explain_unavailable", "Grad-CAM needs the PyTorch backend (serve --backend torch)"
        )
    targets = [state.predictor.classes.index(r.prediction) for r in results]
    try:
        with state.batcher.lock:
            pairs = state.explainer(state.predictor, [p for _, p in saved], targets, cache_dir=folder)
    except MissingExtraError as exc:  # a server installed without medclass[explain]
        raise ApiError(400, "explain_unavailable", str(exc)) from exc
    for result, (image, heat) in zip(results, pairs, strict=True):
        result.image, result.gradcam = image, heat


@router.post("/v1/predict", responses=ERRORS)
async def predict(
    request: Request,
    file: Annotated[list[UploadFile], File(description="Image file(s); repeat the field for several.")],
    mc_dropout: Annotated[int, Query(ge=0, description="MC-dropout passes (uncertainty).")] = 0,
    explain: Annotated[str | None, Query(description="'gradcam': add a Grad-CAM overlay.")] = None,
) -> PredictResponse:
    state = request.app.state
    settings = state.settings
    if len(file) > settings.max_files:
        raise ApiError(413, "too_many_files", f"{len(file)} files; the limit is {settings.max_files}")
    if mc_dropout > settings.max_mc_dropout:
        raise ApiError(400, "invalid_request", f"mc_dropout {mc_dropout}: at most {settings.max_mc_dropout}")
    if explain not in (None, "gradcam"):
        raise ApiError(400, "invalid_request", f"explain={explain}: the only method is 'gradcam'")
    if state.predictor.meta.is_multilabel and explain:
        raise ApiError(400, "invalid_request", "explain is not available for multi-label models yet")
    try:
        state.predictor.check_mc_dropout(mc_dropout)
    except ConfigError as exc:
        raise ApiError(400, "invalid_request", str(exc).replace("--mc-dropout", "mc_dropout", 1)) from None
    with tempfile.TemporaryDirectory(prefix="medclass-upload-") as folder:
        saved = await _save_uploads(file, Path(folder), settings.max_file_bytes)
        _check_pixels(saved, settings.max_pixels)
        results = await run_in_threadpool(_results, state, saved, mc_dropout, folder)
        if explain == "gradcam":
            await run_in_threadpool(_add_overlays, state, saved, results, folder)
    return PredictResponse(model=state.name, results=results)
