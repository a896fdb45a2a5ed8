"""Writing a model bundle: the model file (ONNX with a dynamic batch axis, or TorchScript) plus ``medclass.json``.

The graph outputs raw logits; temperature, softmax and the threshold are applied outside it by
``medclass.inference.decision`` (documented in ``medclass.json`` under ``outputs``), so the bundle and the
checkpoint share one decision rule. TorchScript uses ``torch.jit.trace``: every medclass model is a static
feed-forward graph, and tracing handles timm models that ``torch.jit.script`` rejects.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import medclass
from medclass.inference.bundle import BUNDLE_FORMAT, INPUT_NAME, OUTPUT_NAME
from medclass.inference.bundle_check import file_sha256
from medclass.inference.checkpoint import load_for_inference
from medclass.inference.spec import ModelSpec
from medclass.runs import resolve_checkpoint, run_dir_of
from medclass.runs.bundle_layout import BUNDLE_FILE, EMBEDDED_FILE, MODEL_FILES
from medclass.utils.errors import ConfigError

DEFAULT_OPSET = 17


@dataclass
class ExportedModel:
    """A written bundle: its folder, model file and description."""

    path: Path
    model_file: Path
    info: dict[str, Any]


def example_input(meta: ModelSpec, batch: int = 2) -> torch.Tensor:
    """A random normalised input ``(batch, C, H, W)`` of the checkpoint's size, for tracing."""
    size, channels = meta.preprocess.image_size, meta.preprocess.channels
    return torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(0))


def supported_opsets() -> tuple[int, int]:
    """The ONNX opsets that both the installed onnx and torch's exporter know: ``(lowest, highest)``."""
    import onnx

    try:
        from torch.onnx import _constants

        low, high = int(_constants.ONNX_MIN_OPSET), int(_constants.ONNX_MAX_OPSET)
    except (ImportError, AttributeError):  # a torch without these private constants
        low, high = 7, DEFAULT_OPSET
    return low, min(high, int(onnx.defs.onnx_opset_version()))


def check_export_options(fmt: str, opset: int, quantize: str | None) -> None:
    """Refuse an export that cannot be made, before any model loads or folder is written.

    Raises:
        ConfigError: an unknown format or quantization, a quantization of a format other than ONNX, or an ONNX
            opset that the installed onnx or torch's exporter does not support.
    """
    if fmt not in MODEL_FILES:
        raise ConfigError(f"--format {fmt}: expected one of {', '.join(MODEL_FILES)}")
    if quantize not in (None, "dynamic"):
        raise ConfigError(f"--quantize {quantize}: the only quantization is 'dynamic'")
    if quantize and fmt != "onnx":
        raise ConfigError("--quantize dynamic applies to --format onnx only")
    if fmt == "onnx":
        low, high = supported_opsets()
        if isinstance(opset, bool) or not isinstance(opset, int) or not low <= opset <= high:
            raise ConfigError(
                f"--opset {opset}: the installed onnx and torch exporter supports opsets {low} to {high}; "
                f"choose one of them (default {DEFAULT_OPSET})"
            )


def bundle_info(
    meta: ModelSpec, fmt: str, source: Path, example: torch.Tensor, logits: int
) -> dict[str, Any]:
    """The ``medclass.json`` description: what a consumer needs to preprocess, run and decide.

    The top-level keys are what an ONNX-only client follows (``threshold`` is on the probability of
    ``positive_class``, the declared positive class); ``spec`` is the whole model description
    (:class:`~medclass.inference.spec.ModelSpec`) they are read from. ``input`` and ``outputs`` are the model
    file's signature (the batch dimension named ``batch``); export adds ``model_sha256`` once the file is
    written.
    """
    classes, decision = list(meta.classes), meta.decision
    try:
        source_run = str(run_dir_of(source).resolve())
    except Exception:  # a checkpoint file outside a run folder
        source_run = None
    info = {
        "bundle_format": BUNDLE_FORMAT,
        "format": fmt,
        "model_file": MODEL_FILES[fmt],
        "classes": classes,
        "positive_class": decision.positive_class,
        "image_size": int(example.shape[-1]),
        "channels": int(example.shape[1]),
        "mean": list(meta.preprocess.mean),
        "std": list(meta.preprocess.std),
        "temperature": float(decision.temperature),
        "threshold": decision.threshold,
        "input": {"name": INPUT_NAME, "shape": ["batch", *example.shape[1:]], "dtype": "float32"},
        "outputs": {
            "name": OUTPUT_NAME,
            "shape": ["batch", int(logits)],
            "dtype": "float32",
            "meaning": "raw logits; probabilities = softmax(logits / temperature) (one logit: [1 - sigmoid, "
            "sigmoid]); decision = positive_class when its probability >= threshold, else the other class; "
            "without a threshold the argmax",
        },
        "medclass_version": medclass.__version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "source_run": source_run,
        "source_checkpoint": str(source.resolve()),
        "spec": json.loads(json.dumps(meta.to_dict(), default=str)),
    }
    if meta.is_multilabel:
        info.update(label_rules(meta))
        info["outputs"]["meaning"] = (
            "raw logits, one per label; probability = sigmoid(logit / labels[name].temperature) per label; the "
            "label is positive when its probability >= labels[name].threshold"
        )
    return info


def label_rules(meta: ModelSpec) -> dict[str, Any]:
    """The per-label rule a multi-label bundle's ``medclass.json`` adds at the top level: ``task`` and each
    label's ``threshold`` (and the rule it was chosen by) and ``temperature`` under ``labels``."""
    rules = meta.multilabel.rules
    return {
        "task": "multilabel",
        "labels": {
            name: {"threshold": rule.threshold, "rule": rule.rule, "temperature": rule.temperature}
            for name, rule in rules.items()
        },
    }


def write_onnx(model: nn.Module, example: torch.Tensor, file: Path, opset: int, info: dict[str, Any]) -> None:
    """ONNX with a dynamic batch axis, checked by ``onnx.checker``, with ``info`` in its metadata_props."""
    import onnx
    from torch.onnx.errors import OnnxExporterError

    try:
        torch.onnx.export(
            model,
            (example,),
            str(file),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    except OnnxExporterError as exc:  # an operator the opset lacks (an old opset)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"--opset {opset}: the model cannot be exported at this opset ({reason}); choose a newer one "
            f"(default {DEFAULT_OPSET})"
        ) from exc
    proto = onnx.load(str(file))
    for key, value in info.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(file))


def quantize_dynamic(file: Path) -> None:
    """Replace ``file`` by its onnxruntime dynamic (int8 weights) quantization."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize

    staged = file.with_suffix(".fp32.onnx")
    file.rename(staged)
    try:
        ort_quantize(str(staged), str(file), weight_type=QuantType.QInt8)
    finally:
        staged.unlink(missing_ok=True)


def export_model(
    source: str | Path, fmt: str, out: Path, opset: int = DEFAULT_OPSET, quantize: str | None = None
) -> ExportedModel:
    """Write the bundle of a run folder or checkpoint into the (claimed, empty) folder ``out``.

    The model file carries the description too (ONNX metadata_props, a TorchScript extra file), and
    ``medclass.json`` gets the file's ``model_sha256``: loading checks that the two belong together.

    Raises:
        ConfigError: see :func:`check_export_options`; or the model uses an operator the opset lacks.
    """
    check_export_options(fmt, opset, quantize)
    model, meta = load_for_inference(source)
    example = example_input(meta)
    with torch.no_grad():
        logits = model(example).shape[-1]
    info = bundle_info(meta, fmt, resolve_checkpoint(source), example, logits)
    info["opset"] = opset if fmt == "onnx" else None
    info["quantize"] = quantize
    file = out / MODEL_FILES[fmt]
    if fmt == "onnx":
        write_onnx(model, example, file, opset, info)
        if quantize:
            quantize_dynamic(file)
    else:
        with torch.no_grad():
            traced = torch.jit.trace(model, example)
        torch.jit.save(traced, str(file), _extra_files={EMBEDDED_FILE: json.dumps(info)})
    info["model_sha256"] = file_sha256(file)
    (out / BUNDLE_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return ExportedModel(out, file, info)
