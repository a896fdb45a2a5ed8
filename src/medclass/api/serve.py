"""``medclass serve``: a run folder or bundle behind the HTTP API (FastAPI + uvicorn)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from medclass.explain.web import gradcam_pngs
from medclass.inference.bundle import is_bundle, read_bundle_info
from medclass.inference.runner import Predictor
from medclass.runs import TEST_METRICS_FILE, resolve_checkpoint, run_dir_of
from medclass.serving.app import ServeSettings, create_app
from medclass.serving.export import export_model
from medclass.utils.errors import ConfigError

BACKENDS = ("torch", "onnx")
ENV_ARGS = "MEDCLASS_SERVE_ARGS"
CARD_METRICS = ("accuracy", "balanced_accuracy", "auroc", "macro_f1", "sensitivity", "specificity")


def model_card(source: Path) -> dict[str, Any]:
    """Test metrics (with 95% CIs where stored) of the run behind ``source``, for ``/v1/model``."""
    run = Path(read_bundle_info(source).get("source_run") or "") if is_bundle(source) else None
    try:
        run = run or run_dir_of(source)
        metrics = json.loads((run / TEST_METRICS_FILE).read_text(encoding="utf-8"))
    except Exception:  # a bare checkpoint or a bundle moved away from its run: no card
        return {}
    card: dict[str, Any] = {"run": run.name}
    flat = metrics.get("metrics", metrics) if isinstance(metrics, dict) else {}
    for key in CARD_METRICS:
        value = flat.get(key)
        if isinstance(value, int | float):
            low, high = flat.get(f"{key}_ci_low"), flat.get(f"{key}_ci_high")
            ci = (
                f" (95% CI {low:.3f}-{high:.3f})"
                if isinstance(low, float) and isinstance(high, float)
                else ""
            )
            card[f"test {key}"] = f"{value:.3f}{ci}"
    return card


def load_predictor(source: str | Path, backend: str | None, workdir: Path) -> Predictor:
    """The predictor to serve: a bundle as exported, a run in PyTorch or exported to ONNX into ``workdir``."""
    source = Path(source)
    if backend not in (None, *BACKENDS):
        raise ConfigError(f"--backend {backend}: expected one of {', '.join(BACKENDS)}")
    if is_bundle(source):
        fmt = read_bundle_info(source)["format"]
        if (backend == "torch" and fmt == "onnx") or (backend == "onnx" and fmt != "onnx"):
            raise ConfigError(
                f"{source}: a {fmt} bundle; give the run folder to serve it with --backend {backend}"
            )
        return Predictor.load(source)
    resolve_checkpoint(source)
    if backend == "onnx":
        export_model(source, "onnx", workdir)
        return Predictor.load(workdir)
    return Predictor.load(source)


def build_app(
    source: str | Path, backend: str | None = None, settings: ServeSettings | None = None
) -> FastAPI:
    """The app serving ``source`` (run folder, checkpoint or bundle folder); the model loads now."""
    workdir = Path(tempfile.mkdtemp(prefix="medclass-serve-"))
    predictor = load_predictor(source, backend, workdir)
    name = Path(source).resolve().name
    app = create_app(predictor, settings, name=name, explainer=gradcam_pngs)
    app.state.card = model_card(Path(source))
    return app


def app_from_env() -> FastAPI:
    """The app described by ``$MEDCLASS_SERVE_ARGS`` (how uvicorn's worker processes build it)."""
    args = json.loads(os.environ[ENV_ARGS])
    return build_app(args["source"], args["backend"], ServeSettings(api_key=args["api_key"]))


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
) -> None:
    """Serve ``source`` until interrupted (see ``medclass serve --help``)."""
    import uvicorn

    key = read_api_key(api_key_file) if api_key_file else None
    if workers > 1:
        os.environ[ENV_ARGS] = json.dumps({"source": str(source), "backend": backend, "api_key": key})
        uvicorn.run("medclass.api.serve:app_from_env", factory=True, host=host, port=port, workers=workers)
        return
    app = build_app(source, backend, ServeSettings(api_key=key))
    uvicorn.run(app, host=host, port=port, log_config=None)
