"""The folder of an exported model bundle (``medclass export``): its file names, spelled here once.

::

    <run>/export-onnx/ (export-<format>[-int8]: default_bundle_dir)
      run.json         the marker (kind "bundle")
      medclass.json    the model description (classes, preprocessing, decision, versions, model file's sha256)
      model.onnx       or model.pt (TorchScript), the model file named in medclass.json
      model_card.md    the model card (Mitchell et al. 2019 sections) of the run behind it

Written by :mod:`medclass.serving.export`, read by :mod:`medclass.inference.bundle`; both use these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BUNDLE_KIND = "bundle"  # the guard's kind of a bundle folder
BUNDLE_FILE = "medclass.json"
MODEL_CARD_FILE = "model_card.md"
# The model file of each export format.
MODEL_FILES = {"onnx": "model.onnx", "torchscript": "model.pt"}
# The name under which the model file itself carries the description: a TorchScript extra file (ONNX: a key of
# the model's metadata_props). The same name as the sidecar file, on purpose: the same content.
EMBEDDED_FILE = BUNDLE_FILE


def default_bundle_dir(source: str | Path, fmt: str, quantize: str | None) -> Path:
    """``<run>/export-<format>[-int8]``, or next to a checkpoint file: where ``medclass export`` writes."""
    source = Path(source)
    base = source if source.is_dir() else source.parent
    return base / f"export-{fmt}{'-int8' if quantize else ''}"


@dataclass(frozen=True)
class BundleLayout:
    """Paths of the files of one bundle folder."""

    root: Path

    @property
    def description(self) -> Path:
        """``medclass.json``."""
        return self.root / BUNDLE_FILE

    def model_file(self, fmt: str) -> Path:
        """The model file of export format ``fmt`` (``onnx`` or ``torchscript``)."""
        return self.root / MODEL_FILES[fmt]

    def is_bundle(self) -> bool:
        """Whether the folder holds ``medclass.json``."""
        return self.description.is_file()
