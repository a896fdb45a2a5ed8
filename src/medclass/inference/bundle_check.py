"""Checking that a bundle's model file is the one its ``medclass.json`` describes.

Export records the model file's sha256 (``model_sha256``) and its signature (``input``: name, shape with the
batch dimension symbolic, dtype; ``outputs``: name, shape ``["batch", logits]``, dtype) in ``medclass.json``,
and embeds the description in the model file (ONNX ``metadata_props``, a TorchScript extra file). Loading
compares the three: the file's hash with ``model_sha256``; the model's actual input and output shapes with every
place of the description that states them (``input``, ``image_size``, ``channels``, ``classes`` and their copies
in the model description under ``spec``, ``meta`` in bundles of format 1); the embedded description with ``medclass.json``. Any difference is one :class:`BundleError`
line naming the model file and what differs. A bundle exported before these checks (no ``model_sha256``) loads
with a logged warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from medclass.utils.errors import BundleError

log = logging.getLogger(__name__)

# Keys of the description that the model file carries too: a difference means one of the two was replaced.
EMBEDDED_KEYS = (
    "classes",
    "positive_class",
    "image_size",
    "channels",
    "mean",
    "std",
    "temperature",
    "threshold",
    "opset",
    "quantize",
    "spec",
    "meta",
    "task",
    "labels",
)
ONNX_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16"}
MAX_LISTED = 4

Signature = dict[str, dict[str, Any]]


def file_sha256(path: str | Path) -> str:
    """The hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def onnx_signature(session: Any) -> Signature:
    """The input and output of an ONNX Runtime session: name, shape (a symbolic dimension is None), dtype."""

    def entry(arg: Any) -> dict[str, Any]:
        shape = [dim if isinstance(dim, int) else None for dim in arg.shape]
        return {"name": arg.name, "shape": shape, "dtype": ONNX_DTYPES.get(arg.type, arg.type)}

    return {"input": entry(session.get_inputs()[0]), "outputs": entry(session.get_outputs()[0])}


def onnx_embedded(metadata: dict[str, str], info: dict[str, Any]) -> dict[str, Any]:
    """The description embedded in an ONNX model's metadata_props: export writes a string as it is and any
    other value as JSON, so a value is parsed unless the description holds a string there."""
    embedded: dict[str, Any] = {}
    for key, raw in metadata.items():
        try:
            embedded[key] = raw if isinstance(info.get(key), str) else json.loads(raw)
        except ValueError:
            embedded[key] = raw
    return embedded


def stated_input(info: dict[str, Any]) -> list[int] | None:
    """``[C, H, W]`` as the description states it (its ``input.shape``, else ``channels`` and ``image_size``)."""
    shape = (info.get("input") or {}).get("shape")
    if shape and len(shape) == 4:
        return list(shape[1:])
    if "channels" in info and "image_size" in info:
        return [info["channels"], info["image_size"], info["image_size"]]
    return None


def probe_signature(module: torch.nn.Module, info: dict[str, Any]) -> tuple[Signature | None, str | None]:
    """The output width of a module without declared shapes (TorchScript), from one input of the stated size;
    ``(None, why)`` when the module does not take that input."""
    dims = stated_input(info)
    if dims is None:
        return None, None
    try:
        with torch.no_grad():
            output = module(torch.zeros(1, *dims))
    except Exception as exc:  # a traced graph of another input size, or a foreign module
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        return None, f"the model does not take the input {_dims(dims)} stated in {{desc}} ({first})"
    width = int(output.shape[-1]) if output.ndim == 2 else None
    return {"input": {"shape": [None] * 4}, "outputs": {"shape": [None, width]}}, None


def _dims(shape: list[Any]) -> str:
    return "x".join("?" if dim is None else str(dim) for dim in shape)


def _short(value: Any, limit: int = 48) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _agrees(stated: Any, model_value: Any) -> bool:
    """Whether a stated value fits the model's (a dimension the model leaves open fits anything)."""
    if isinstance(stated, list) and isinstance(model_value, list):
        return len(stated) == len(model_value) and all(map(_agrees, stated, model_value))
    return stated is None or model_value is None or stated == model_value


def described_model(info: dict[str, Any]) -> tuple[str, dict[str, Any], Any]:
    """Where a bundle description holds its model description (``spec``, or ``meta`` in format 1), the pixel
    preprocessing stated there (``channels``, ``image_size``) and its classes."""
    if "spec" in info:
        spec = info["spec"] if isinstance(info["spec"], dict) else {}
        preprocess = (spec.get("preprocess") or {}).get("settings") or {}
        return "spec.preprocess.settings", preprocess, spec.get("classes")
    meta = info.get("meta") if isinstance(info.get("meta"), dict) else {}
    return "meta.preprocess", meta.get("preprocess") or {}, meta.get("classes")


def input_differences(actual: Signature, info: dict[str, Any]) -> list[str]:
    """The places of the description whose input shape, size or channels differ from the model's input."""
    shape = actual["input"]["shape"]
    if len(shape) != 4:
        return [f"an input of rank {len(shape)} in the model file, images (rank 4) in {{desc}}"]
    channels, height, width = shape[1:]
    where, preprocess, _ = described_model(info)
    stated_shape = (info.get("input") or {}).get("shape")
    stated = [
        ("input.shape", stated_shape[1:] if stated_shape else None, shape[1:], stated_shape),
        ("channels", info.get("channels"), channels, None),
        ("image_size", info.get("image_size"), height, None),
        ("image_size", info.get("image_size"), width, None),
        (f"{where}.channels", preprocess.get("channels"), channels, None),
        (f"{where}.image_size", preprocess.get("image_size"), height, None),
        (f"{where}.image_size", preprocess.get("image_size"), width, None),
    ]
    wrong: list[str] = []
    for key, value, model_value, shown in stated:
        text = f"{key} {_short(shown if shown is not None else value)}"
        if not _agrees(value, model_value) and text not in wrong:
            wrong.append(text)
    return [f"input {_dims(shape[1:])} in the model file, {', '.join(wrong)} in {{desc}}"] if wrong else []


def output_differences(actual: Signature, info: dict[str, Any]) -> list[str]:
    """The description's logit count and classes against the model's output width."""
    width = actual["outputs"]["shape"][-1] if actual["outputs"]["shape"] else None
    if width is None:
        return []
    wrong = []
    stated = (info.get("outputs") or {}).get("shape")
    if stated and stated[-1] != width:
        wrong.append(f"outputs.shape {_short(stated)}")
    where, _, described_classes = described_model(info)
    place = where.split(".")[0] + ".classes"
    for key, classes in (("classes", info.get("classes")), (place, described_classes)):
        if classes is not None and width != len(classes) and not (width == 1 and len(classes) == 2):
            wrong.append(f"{len(classes)} {key} {_short(classes)}")
    return [f"{width} logits in the model file, {', '.join(wrong)} in {{desc}}"] if wrong else []


def name_differences(actual: Signature, info: dict[str, Any]) -> list[str]:
    """Input/output names and dtypes the model declares against the description's."""
    diffs = []
    for part in ("input", "outputs"):
        for field in ("name", "dtype"):
            model_value, value = actual[part].get(field), (info.get(part) or {}).get(field)
            if model_value is not None and value is not None and model_value != value:
                diffs.append(f"{part} {field} {model_value!r} in the model file, {value!r} in {{desc}}")
    return diffs


def _leaf_differences(embedded: Any, described: Any, key: str) -> list[str]:
    if isinstance(embedded, dict) and isinstance(described, dict):
        diffs = []
        for sub in sorted(set(embedded) | set(described)):
            diffs += _leaf_differences(embedded.get(sub), described.get(sub), f"{key}.{sub}")
        return diffs
    if embedded == described:
        return []
    return [f"{key} {_short(embedded)} in the model file, {_short(described)} in {{desc}}"]


def embedded_differences(embedded: dict[str, Any] | None, info: dict[str, Any]) -> list[str]:
    """The keys where the description embedded in the model file and ``medclass.json`` disagree."""
    if not embedded:
        return []
    diffs: list[str] = []
    for key in EMBEDDED_KEYS:
        if key in embedded and key in info:
            diffs += _leaf_differences(embedded[key], info[key], key)
    return diffs


def check_bundle(
    description: Path,
    model_file: Path,
    info: dict[str, Any],
    actual: Signature | None,
    embedded: dict[str, Any] | None,
    problems: tuple[str, ...] = (),
) -> None:
    """Refuse a model file that is not the one ``description`` describes.

    Args:
        description: the ``medclass.json`` file (named in messages).
        model_file: the model file.
        info: the parsed description.
        actual: the model's signature (:func:`onnx_signature`, :func:`probe_signature`); None: not known.
        embedded: the description the model file carries; None: none (a foreign file or an old bundle).
        problems: differences already found (e.g. the model does not take the stated input).

    Raises:
        BundleError: one line naming the model file and what differs.
    """
    diffs = []
    expected = info.get("model_sha256")
    if expected is None:
        log.warning(
            "%s: no model_sha256 (a bundle exported before medclass checked them), so %s cannot be verified; "
            "export the model again (medclass export) to have it checked",
            description,
            model_file.name,
        )
    else:
        found = file_sha256(model_file)
        if found != expected:
            diffs.append(
                f"sha256 {found[:16]}… of the model file, model_sha256 {str(expected)[:16]}… in {{desc}}"
            )
    diffs += list(problems)
    if actual is not None:
        diffs += (
            input_differences(actual, info)
            + output_differences(actual, info)
            + name_differences(actual, info)
        )
    diffs += embedded_differences(embedded, info)
    if not diffs:
        return
    listed = [diff.replace("{desc}", description.name) for diff in diffs[:MAX_LISTED]]
    more = f" (and {len(diffs) - MAX_LISTED} more)" if len(diffs) > MAX_LISTED else ""
    raise BundleError(
        f"{model_file}: not the model that {description} describes: {'; '.join(listed)}{more}; "
        "export the model again with medclass export instead of replacing or editing a bundle's files"
    )
