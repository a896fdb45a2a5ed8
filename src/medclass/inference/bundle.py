"""Reading an exported model bundle: a folder with the model file (ONNX or TorchScript) and ``medclass.json``.

The bundle holds raw logits; temperature, softmax and the decision at the stored operating point stay outside
the graph, in ``medclass.inference.decision``, so a bundle decides exactly as its checkpoint does. Writing
bundles is ``medclass.serving.export``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medclass.inference.bundle_check import (
    check_bundle,
    onnx_embedded,
    onnx_signature,
    probe_signature,
)
from medclass.inference.spec import ModelSpec
from medclass.runs.bundle_layout import BUNDLE_FILE, EMBEDDED_FILE, MODEL_FILES
from medclass.utils.errors import WeightsError

# 2: the model description under "spec" (a ModelSpec); 1: under "meta" (the untyped ModelSpec), migrated.
BUNDLE_FORMAT = 2
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def is_bundle(path: str | Path) -> bool:
    """Whether ``path`` is a bundle folder (it holds ``medclass.json``)."""
    return (Path(path) / BUNDLE_FILE).is_file()


def read_bundle_info(path: str | Path) -> dict[str, Any]:
    """The parsed ``medclass.json`` of a bundle folder.

    Raises:
        WeightsError: the file is missing, not JSON, or lacks a key a bundle must have.
    """
    file = Path(path) / BUNDLE_FILE
    try:
        info = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{file}: not a readable bundle description ({exc})") from exc
    for key in ("format", "model_file", "spec" if "meta" not in info else "meta"):
        if key not in info:
            raise WeightsError(f"{file}: missing key '{key}'; export the model again with medclass export")
    if info["format"] not in MODEL_FILES:
        raise WeightsError(f"{file}: format '{info['format']}' is not one of {sorted(MODEL_FILES)}")
    return info


class OnnxModule(nn.Module):
    """An ONNX Runtime session behind the ``nn.Module`` interface, so :class:`Predictor` runs it unchanged.

    It has no parameters and no dropout layers: MC dropout passes are identical (std 0), as the CLI reports.
    """

    def __init__(self, file: str | Path, threads: int | None = None) -> None:
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(images.detach().cpu().numpy(), dtype=np.float32)
        (logits,) = self.session.run(None, {self.input_name: array})
        return torch.from_numpy(logits)


def bundle_spec(info: dict[str, Any], file: Path) -> ModelSpec:
    """The model description of a parsed ``medclass.json`` (``file``, named in errors); bundles of format 1
    (``meta``) are migrated.

    Raises:
        WeightsError: the description is malformed.
    """
    try:
        return ModelSpec.from_dict(info["spec"] if "spec" in info else info["meta"])
    except Exception as exc:  # pydantic's ValidationError or a v1 dict that cannot be migrated
        first = str(exc).strip().splitlines()
        raise WeightsError(f"{file}: a malformed model description ({' '.join(first[:3])})") from None


def load_bundle(path: str | Path, threads: int | None = None) -> tuple[nn.Module, ModelSpec]:
    """The bundle's model (an :class:`OnnxModule` or a TorchScript module) in eval mode and its description.

    Raises:
        WeightsError: the description or the model file is missing or unreadable.
        BundleError: the model file is not the one ``medclass.json`` describes (its hash, its input or output
            shape, or the description it carries differ; see ``medclass.inference.bundle_check``).
    """
    info = read_bundle_info(path)
    file = Path(path) / info["model_file"]
    if not file.is_file():
        raise WeightsError(f"{file}: the model file named in {BUNDLE_FILE} is missing")
    extra = {EMBEDDED_FILE: ""}
    try:
        if info["format"] == "onnx":
            model: nn.Module = OnnxModule(file, threads)
        else:
            model = torch.jit.load(file, "cpu", _extra_files=extra)
    except Exception as exc:  # a truncated or foreign model file
        raise WeightsError(f"{file}: not a readable {info['format']} model ({exc})") from exc
    model.eval()
    if isinstance(model, OnnxModule):
        actual, problem = onnx_signature(model.session), None
        embedded = onnx_embedded(model.session.get_modelmeta().custom_metadata_map, info)
    else:
        actual, problem = probe_signature(model, info)
        embedded = json.loads(extra[EMBEDDED_FILE]) if extra[EMBEDDED_FILE] else None
    problems = (problem,) if problem else ()
    check_bundle(Path(path) / BUNDLE_FILE, file, info, actual, embedded, problems)
    return model, bundle_spec(info, Path(path) / BUNDLE_FILE)
