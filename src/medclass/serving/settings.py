"""Server settings, the one client-error type and its JSON shape ``{error, detail, file}``, and the page."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from medclass.data.limits import MAX_IMAGE_PIXELS


@dataclass
class ServeSettings:
    """Limits and options of the server.

    Attributes:
        api_key: bearer token every endpoint but health requires (None: no auth).
        max_file_bytes: largest upload accepted.
        max_pixels: largest image (width x height, as its header declares) accepted; the readers' own limit
            (:data:`medclass.data.limits.MAX_IMAGE_PIXELS`, Pillow's) by default.
        max_files: most files in one request.
        max_mc_dropout: most MC-dropout passes one request may ask for.
        max_batch: most images in one forward pass of concurrent requests (1: no batching).
        batch_wait_ms: how long the model waits for more requests before it runs a batch (0: it only takes
            those already waiting, so a lone request never waits).
    """

    api_key: str | None = None
    max_file_bytes: int = 50 * 1024 * 1024
    max_pixels: int = MAX_IMAGE_PIXELS
    max_files: int = 16
    max_mc_dropout: int = 50
    max_batch: int = 32
    batch_wait_ms: float = 0.0


class ApiError(Exception):
    """A client error answered as ``{error, detail, file}`` with ``status``."""

    def __init__(self, status: int, error: str, detail: str, file: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.file = status, error, detail, file


def error_body(error: str, detail: str, file: str | None = None) -> dict[str, Any]:
    """The one JSON shape of every error response."""
    return {"error": error, "detail": detail, "file": file}


def page_html() -> str:
    """The single-page web UI (no external resources)."""
    return resources.files("medclass.serving").joinpath("static/index.html").read_text(encoding="utf-8")


def log_config() -> dict[str, Any]:
    """uvicorn's ``log_config``: the access log as one JSON line per request on stderr (uvicorn's own access
    lines, which carry the query string, are off), server messages as plain lines."""
    plain = {"format": "%(message)s"}
    stderr = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "plain"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": plain},
        "handlers": {"stderr": stderr},
        "loggers": {
            "medclass.serve": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
