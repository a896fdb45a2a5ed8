"""The optional parts of medclass (``pip install "medclass[serve]"``) and the one error for a missing one.

The core (inspect, split, train, evaluate, predict, report) needs none of these. A feature that needs an extra
calls :func:`require_extra` before it does any work, so a user without the extra gets one line naming what is
missing and the ``pip install`` command, not a ``ModuleNotFoundError`` from deep inside a library. The
command line also turns any ``ModuleNotFoundError`` of a module listed here into that line
(:func:`missing_extra_for`), for code paths that import an extra without asking first.

``EXTRAS`` maps each extra to the modules it provides and the distribution each comes from; the names of the
extras and their distributions are the ones in ``pyproject.toml`` (a test keeps the two equal). MONAI's
``optional_import`` (``monai/utils/module.py``) is the model: find the module where it is first needed and name
the package in the error.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from medclass.utils.errors import MedclassError

# extra -> {import name: distribution}. Only the distributions the extra adds to the core are listed.
EXTRAS: dict[str, dict[str, str]] = {
    "serve": {
        "fastapi": "fastapi",
        "uvicorn": "uvicorn",
        "python_multipart": "python-multipart",
        "onnxruntime": "onnxruntime",
        "prometheus_client": "prometheus-client",
    },
    "export": {"onnx": "onnx", "onnxruntime": "onnxruntime", "onnxscript": "onnxscript"},
    "dicom": {
        "pynetdicom": "pynetdicom",
        "highdicom": "highdicom",
        "dicomweb_client": "dicomweb-client",
        "fhir": "fhir.resources",
    },
    "explain": {"pytorch_grad_cam": "grad-cam", "captum": "captum"},
    "tune": {"optuna": "optuna"},
    "track": {
        "mlflow": "mlflow-skinny",
        "sqlalchemy": "sqlalchemy",
        "alembic": "alembic",
        "tensorboard": "tensorboard",
    },
}


class MissingExtraError(MedclassError):
    """A feature needs an optional part of medclass that is not installed (exit 2, with the pip command)."""

    def __init__(self, extra: str, feature: str, missing: list[str]) -> None:
        self.extra = extra
        self.missing = missing
        super().__init__(
            f"{feature} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed: "
            f'pip install "medclass[{extra}]"'
        )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that is missing, or a module with no spec
        return False


def missing_modules(extra: str, modules: tuple[str, ...] | None = None) -> list[str]:
    """The distributions of ``extra`` (or only of its ``modules``) that cannot be imported; nothing is imported.

    Raises:
        KeyError: ``extra`` is not one of :data:`EXTRAS`.
    """
    provided = EXTRAS[extra]
    wanted = modules if modules is not None else tuple(provided)
    return [provided[m] for m in wanted if not _installed(m)]


def require_extra(extra: str, feature: str, modules: tuple[str, ...] | None = None) -> None:
    """Raise :class:`MissingExtraError` unless every module of ``extra`` (or the given ``modules``) is installed.

    Args:
        extra: the extra's name in ``pyproject.toml`` (``serve``, ``export``, ``explain``, ``tune``, ``track``).
        feature: what needs it, for the message (``medclass serve``, ``tracking: mlflow``).
        modules: only these import names of the extra (a feature that needs part of it).

    Example:
        >>> require_extra("tune", "medclass tune")  # doctest: +SKIP
        MissingExtraError: medclass tune needs optuna, which is not installed: pip install "medclass[tune]"
    """
    missing = missing_modules(extra, modules)
    if missing:
        raise MissingExtraError(extra, feature, missing)


def import_extra(module: str, extra: str, feature: str) -> ModuleType:
    """``importlib.import_module(module)``, or :class:`MissingExtraError` naming ``extra`` when it is missing."""
    require_extra(extra, feature, (module.partition(".")[0],))
    return importlib.import_module(module)


def missing_extra_for(exc: ModuleNotFoundError) -> MissingExtraError | None:
    """The :class:`MissingExtraError` for an import of an extra's module that failed (None for other modules)."""
    top = (exc.name or "").partition(".")[0]
    for extra, provided in EXTRAS.items():
        if top in provided:
            return MissingExtraError(extra, "this command", [provided[top]])
    return None
