"""Property-based tests: whatever bytes or structure a user feeds the parsers, only medclass's own errors."""

from __future__ import annotations

import contextlib
import csv
import io
import tempfile
from pathlib import Path

import yaml
from conftest import write_image
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from medclass.config import build_config, load_config
from medclass.config.loader import parse_override
from medclass.data.discovery import Sample, discover
from medclass.data.splits import _patient_groups, read_splits
from medclass.utils.errors import MedclassError

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_FOLDER = Path(tempfile.mkdtemp(prefix="medclass-hypothesis-"))
IMAGES = [write_image(_FOLDER / f"img{i}.png", size=(8, 8), seed=i) for i in range(3)]

cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["train", "val", "test", "Training", "x", "", "0", "1.5", "-1", "nan", "img0.png", "../x"]
    ),
    st.sampled_from([str(p) for p in IMAGES] + ["img1.png", "missing.png", str(_FOLDER)]),
)
headers = st.lists(
    st.sampled_from(["path", "label", "split", "group", "fold", "PATH", " label ", "other", ""]), max_size=6
)


def _write(name: str, data: bytes) -> Path:
    path = _FOLDER / name
    path.write_bytes(data)
    return path


def _csv_text(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8", "surrogatepass")


def _only_medclass_errors(call) -> None:
    with contextlib.suppress(MedclassError):
        call()


@SETTINGS
@given(st.binary(max_size=400))
def test_csv_manifest_random_bytes(data: bytes) -> None:
    _only_medclass_errors(lambda: discover(_write("manifest.csv", data)))


@SETTINGS
@given(headers, st.lists(st.lists(cells, max_size=6), max_size=8))
@example(header=["path", "label"], rows=[["\x00", "0"]])  # a NUL in a path once raised ValueError from os.stat
def test_csv_manifest_random_structure(header: list[str], rows: list[list[str]]) -> None:
    try:
        path = _write("manifest.csv", _csv_text(header, rows))
    except UnicodeEncodeError:
        return
    _only_medclass_errors(lambda: discover(path))


@SETTINGS
@given(st.binary(max_size=400))
def test_splits_file_random_bytes(data: bytes) -> None:
    _only_medclass_errors(lambda: read_splits(_write("splits.csv", data)))


@SETTINGS
@given(headers, st.lists(st.lists(cells, max_size=6), max_size=8), st.booleans())
def test_splits_file_random_structure(header: list[str], rows: list[list[str]], with_classes: bool) -> None:
    try:
        path = _write("splits.csv", _csv_text(header, rows))
    except UnicodeEncodeError:
        return
    _only_medclass_errors(lambda: read_splits(path, ["a", "b"] if with_classes else None))


@SETTINGS
@given(st.binary(max_size=400))
def test_yaml_config_random_bytes(data: bytes) -> None:
    _only_medclass_errors(lambda: load_config(_write("config.yaml", data)))


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
section_keys = st.sampled_from(
    ["data", "split", "model", "optim", "trainer", "base", "seed", "out", "x", "1"]
)


@SETTINGS
@given(st.dictionaries(section_keys, yaml_values, max_size=5))
def test_yaml_config_random_structure(tree: dict) -> None:
    path = _write("config.yaml", yaml.safe_dump(tree).encode())
    _only_medclass_errors(lambda: load_config(path))


override_keys = st.one_of(
    st.text(max_size=16),
    st.sampled_from(
        ["optim.lr", "lr", "data", "data.path.x", "model.cnn.blocks", "trainer", "a..b", ".", "seed"]
    ),
)


@SETTINGS
@given(
    st.lists(st.tuples(override_keys, st.text(max_size=16)), max_size=4),
    st.lists(st.text(max_size=20), max_size=2),
)
def test_set_overrides(pairs: list[tuple[str, str]], raw: list[str]) -> None:
    overrides = [f"{k}={v}" for k, v in pairs] + raw
    _only_medclass_errors(lambda: build_config({}, overrides))
    for text in overrides:
        _only_medclass_errors(lambda text=text: parse_override(text))


@SETTINGS
@given(st.text(max_size=24), st.lists(st.text(max_size=12), min_size=1, max_size=4))
def test_group_regex(regex: str, names: list[str]) -> None:
    samples = [Sample(Path("/d") / (name.replace("/", "_") or "x"), "a") for name in names]
    _only_medclass_errors(lambda: _patient_groups(samples, regex))
