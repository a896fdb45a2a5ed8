"""The text inputs fed mutated real files: a CSV manifest (``discover``) and a YAML config (``load_config``).

Each ends in a correct result (a data index whose samples exist and carry a known class; a validated
``Config``) or a :class:`MedclassError`; anything else is a bug, kept here as an ``@example`` once found.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from conftest import write_image
from fuzz.mutations import budget, mutated
from hypothesis import example, given

from medclass.config import load_config
from medclass.data.discovery import discover
from medclass.utils.errors import MedclassError

_NAMES = itertools.count()
MANIFEST = b"""path,label,split,group
img0.png,benign,train,p1
img1.png,benign,val,p2
img2.png,malignant,train,p3
sub/img3.png,malignant,test,p4
"""
CONFIG = b"""base: base.yaml
name: fuzzed
seed: 3
data: {image_size: 32, batch_size: 16, channels: 1}
split: {strategy: stratified, val_frac: 0.25, test_frac: 0.25}
model: {name: cnn, cnn: {blocks: [{out_channels: 8}], dense: [8]}}
optim: {lr: 0.001}
trainer: {epochs: 1, patience: null, progress_bar: false}
augment: &aug {hflip: true}
evaluation: {bootstrap: 0, report: false}
"""
BASE = b"scheduler: {warmup_epochs: 1}\noptim: {weight_decay: 0.0001}\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-text")
    for i, name in enumerate(("img0.png", "img1.png", "img2.png", "sub/img3.png")):
        write_image(root / name, size=(8, 8), seed=i)
    (root / "base.yaml").write_bytes(BASE)
    return root


def _write(folder: Path, suffix: str, data: bytes) -> Path:
    path = folder / f"f{next(_NAMES)}{suffix}"
    path.write_bytes(data)
    return path


@budget(150)
@given(mutated(MANIFEST, header=len(MANIFEST)))
# A path starting with ~ and an unknown user name raised RuntimeError from Path.expanduser.
@example(MANIFEST.replace(b"img1.png,", b"~nosuchuser/img1.png,"))
def test_csv_manifest(folder: Path, data: bytes) -> None:
    path = _write(folder, ".csv", data)
    try:
        index = discover(path)
    except MedclassError:
        return
    finally:
        path.unlink()
    assert index.layout == "csv" and len(index.classes) >= 2
    for sample in index.samples:
        assert sample.label in index.classes and sample.path.is_file(), sample


@budget(150)
@given(mutated(CONFIG, header=len(CONFIG)))
def test_yaml_config(folder: Path, data: bytes) -> None:
    path = _write(folder, ".yaml", data)
    try:
        config = load_config(path)
    except MedclassError:
        return
    finally:
        path.unlink()
    assert config.model.name and config.data.image_size > 0
