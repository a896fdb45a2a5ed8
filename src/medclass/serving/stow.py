"""DICOMweb STOW-RS in ``medclass serve`` (PS3.18 10.5): ``POST /dicomweb/studies[/{study}]`` with a
``multipart/related; type="application/dicom"`` body. Each instance goes through the DICOM node's own pipeline
(:meth:`~medclass.serving.dicom.node.DicomNode.accept`: the refusal rules, the spool, then the node's worker
classifies, builds the SR and delivers it to serve's ``--dicom-send-to``/``--dicom-stow-url``).

The answer is a STOW-RS response (``application/dicom+json``): ReferencedSOPSequence for the instances stored in
the spool, FailedSOPSequence with FailureReason for the refused ones; 200 when all were stored, 202 when some
failed, 409 when none was. The multipart body is parsed by python-multipart (serve's own dependency, streaming),
under serve's upload limits (``max_file_bytes`` a part, ``max_files`` parts).
"""

from __future__ import annotations

import io
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from medclass.serving.schemas import ErrorResponse
from medclass.serving.settings import ApiError

router = APIRouter()
DICOM_TYPE = "application/dicom"
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 413, 415)
}
NO_DESTINATION = (
    "STOW-RS needs a destination for the reports: start serve with --dicom-send-to AE@HOST:PORT or "
    "--dicom-stow-url URL"
)
STOW_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            'multipart/related; type="application/dicom"': {"schema": {"type": "string", "format": "binary"}}
        },
    },
    "responses": {
        "200": {"description": "all instances stored (STOW-RS response, application/dicom+json)"},
        "202": {"description": "some instances stored, FailedSOPSequence lists the others"},
        "409": {"description": "no instance stored, FailedSOPSequence lists why"},
    },
}


def _boundary(content_type: str) -> bytes:
    """The boundary of a ``multipart/related; type="application/dicom"`` body.

    Raises:
        ApiError: 415 for another media type, 400 without a boundary.
    """
    from python_multipart.multipart import parse_options_header

    media, options = parse_options_header(content_type)
    part_type = options.get(b"type", b"").decode("latin-1").strip().lower()
    if media.decode("latin-1").lower() != "multipart/related" or part_type != DICOM_TYPE:
        raise ApiError(
            415,
            "unsupported_media_type",
            f'Content-Type {content_type[:100]!r}: expected multipart/related; type="{DICOM_TYPE}"',
        )
    boundary = options.get(b"boundary", b"")
    if not boundary:
        raise ApiError(400, "malformed_body", "the multipart/related Content-Type has no boundary")
    return boundary


async def read_parts(request: Request, boundary: bytes, max_part_bytes: int, max_parts: int) -> list[bytes]:
    """The parts of the multipart body, read as it streams in under the size limits.

    Raises:
        ApiError: 413 for a part over ``max_part_bytes`` or more than ``max_parts`` parts, 400 for a body that
            is not a complete multipart message with at least one part.
    """
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser

    parts: list[bytearray] = []
    finished = [0]

    def begin() -> None:
        if len(parts) >= max_parts:
            raise ApiError(413, "too_many_files", f"more than {max_parts} parts; the limit is {max_parts}")
        parts.append(bytearray())

    def data(chunk: bytes, start: int, end: int) -> None:
        parts[-1] += chunk[start:end]
        if len(parts[-1]) > max_part_bytes:
            raise ApiError(413, "file_too_large", f"part {len(parts)}: larger than {max_part_bytes} bytes")

    def end() -> None:
        finished[0] += 1

    parser = MultipartParser(boundary, {"on_part_begin": begin, "on_part_data": data, "on_part_end": end})
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise ApiError(400, "malformed_body", f"not a multipart/related body ({str(exc)[:200]})") from None
    if not finished[0]:
        raise ApiError(400, "malformed_body", "the multipart/related body has no complete part")
    return [bytes(p) for p in parts[: finished[0]]]


def store_parts(node: Any, parts: list[bytes], study: str | None, max_pixels: int) -> Any:
    """Read each part as a DICOM instance and hand it to ``node``; the STOW-RS response data set."""
    import pydicom
    from pydicom import Dataset

    from medclass.data.limits import too_large
    from medclass.serving.dicom.node import NOT_MATCHING, OUT_OF_RESOURCES, UNDECODABLE, status

    stored, failed = [], []
    for index, part in enumerate(parts):
        reference = Dataset()
        reference.ReferencedSOPClassUID = reference.ReferencedSOPInstanceUID = ""
        try:
            ds = pydicom.dcmread(io.BytesIO(part))
            reference.ReferencedSOPClassUID = str(ds.get("SOPClassUID", ""))
            reference.ReferencedSOPInstanceUID = str(ds.get("SOPInstanceUID", ""))
            large = too_large((int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)), max_pixels)
        except Exception as exc:  # not DICOM, or a malformed header: this part fails, the others go on
            node.log(f"STOW-RS part {index + 1}: refused: not a DICOM instance ({str(exc)[:200]})")
            answer = status(UNDECODABLE)
        else:
            if large is not None:
                node.log(f"{reference.ReferencedSOPInstanceUID}: refused: {large}")
                answer = status(OUT_OF_RESOURCES)
            elif study is not None and str(ds.get("StudyInstanceUID", "")) != study:
                node.log(f"{reference.ReferencedSOPInstanceUID}: refused: not of study {study}")
                answer = status(NOT_MATCHING)
            else:
                answer = node.accept(ds)
        if answer.Status == 0x0000:
            stored.append(reference)
        else:
            reference.FailureReason = int(answer.Status)
            failed.append(reference)
    response = Dataset()
    if stored:
        response.ReferencedSOPSequence = stored
    if failed:
        response.FailedSOPSequence = failed
    return response


async def _stow(request: Request, study: str | None) -> Response:
    state = request.app.state
    node = getattr(state, "dicom_node", None)
    if node is None:
        raise ApiError(404, "dicomweb_unavailable", NO_DESTINATION)
    boundary = _boundary(request.headers.get("content-type", ""))
    settings = state.settings
    parts = await read_parts(request, boundary, settings.max_file_bytes, settings.max_files)
    answer = await run_in_threadpool(store_parts, node, parts, study, settings.max_pixels)
    stored, failed = len(answer.get("ReferencedSOPSequence", [])), len(answer.get("FailedSOPSequence", []))
    code = 200 if not failed else 202 if stored else 409
    return Response(json.dumps(answer.to_json_dict()), code, media_type="application/dicom+json")


@router.post("/dicomweb/studies", responses=ERRORS, openapi_extra=STOW_DOC, response_class=Response)
async def stow_studies(request: Request) -> Response:
    """STOW-RS: store DICOM instances; each is classified and its SR sent to serve's DICOM destination."""
    return await _stow(request, None)


@router.post("/dicomweb/studies/{study}", responses=ERRORS, openapi_extra=STOW_DOC, response_class=Response)
async def stow_study(request: Request, study: str) -> Response:
    """STOW-RS into one study: instances of another study are refused (FailureReason 0xA900)."""
    return await _stow(request, study)
