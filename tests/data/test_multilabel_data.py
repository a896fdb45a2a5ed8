"""Multi-label data: the manifest layouts, the (N, K) npz, the uncertain-label policies, bad input (one message,
exit 2) and the group-aware iterative stratification."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import write_image

from medclass.cli.app import run_app
from medclass.data.discovery import discover
from medclass.data.multilabel import LabelOptions, label_matrix
from medclass.data.splits import stratified_assignment
from medclass.data.synthetic import SHAPE_LABELS, make_shapes_multilabel


def _manifest(tmp_path: Path, header: str, rows: list[str], n_images: int = 4) -> Path:
    for i in range(n_images):
        write_image(tmp_path / f"img{i}.png", seed=i)
    manifest = tmp_path / "labels.csv"
    manifest.write_text("\n".join([header, *rows]) + "\n")
    return manifest


def test_a_labels_column_gives_the_label_names_and_each_images_set(tmp_path: Path) -> None:
    manifest = _manifest(
        tmp_path,
        "path,labels",
        ["img0.png,effusion|cardiomegaly", "img1.png,", "img2.png,effusion", "img3.png,cardiomegaly"],
    )
    index = discover(manifest)
    assert index.multilabel and index.classes == ["cardiomegaly", "effusion"]
    matrix = label_matrix([s.label for s in index.samples], index.classes)
    assert matrix.tolist() == [[1, 1], [0, 0], [0, 1], [1, 0]]


@pytest.mark.parametrize(("policy", "expected"), [("ignore", None), ("zeros", 0.0), ("ones", 1.0)])
@pytest.mark.parametrize("layout", ["columns", "labels"])
def test_uncertain_labels_follow_the_named_policy(
    tmp_path: Path, policy: str, expected: float | None, layout: str
) -> None:
    # The same labels in both layouts: -1 in a 0/1 column, a trailing '?' in a labels column.
    if layout == "columns":
        manifest = _manifest(
            tmp_path, "path,a,b", ["img0.png,1,-1", "img1.png,0,1", "img2.png,1,0", "img3.png,0,0"]
        )
    else:
        manifest = _manifest(
            tmp_path, "path,labels", ["img0.png,a|b?", "img1.png,b", "img2.png,a", "img3.png,"]
        )
    index = discover(manifest, LabelOptions.of(["a", "b"], policy))
    matrix = label_matrix([s.label for s in index.samples], index.classes)
    value = matrix[0, 1]
    assert np.isnan(value) if expected is None else value == expected
    assert matrix[0, 0] == 1 and matrix[1:].tolist() == [[0, 1], [1, 0], [0, 0]]


def test_a_multilabel_npz_has_one_column_per_label(tmp_path: Path) -> None:
    labels = np.array([[1, 0, 0], [0, 1, -1], [1, 1, 1], [0, 0, 1]] * 3, dtype=np.int64)
    npz = tmp_path / "chest.npz"
    np.savez(npz, train_images=np.zeros((12, 8, 8), np.uint8), train_labels=labels)
    index = discover(npz, LabelOptions.of(["effusion", "nodule", "mass"]))
    assert index.multilabel and index.layout == "npz" and index.classes == ["effusion", "nodule", "mass"]
    matrix = label_matrix([s.label for s in index.samples], index.classes)
    assert np.array_equal(np.nan_to_num(matrix, nan=-1), labels)
    assert discover(npz).classes == ["0", "1", "2"]  # no names given: the column numbers


def _bad(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "300")
    assert run_app(args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err
    return err


def test_a_label_not_in_the_list_is_refused(tmp_path, capsys, monkeypatch) -> None:
    manifest = _manifest(
        tmp_path, "path,labels", ["img0.png,effusion", "img1.png,efusion", "img2.png,", "img3.png,mass"]
    )
    err = _bad(["inspect", str(manifest), "--label-columns", "effusion,mass"], capsys, monkeypatch)
    assert "line 3, column 'labels': 'efusion' is not in the label list (effusion, mass)" in err


def test_a_row_with_a_label_column_missing_is_refused(tmp_path, capsys, monkeypatch) -> None:
    manifest = _manifest(tmp_path, "path,a,b", ["img0.png,1,0", "img1.png,0", "img2.png,1,", "img3.png,0,1"])
    err = _bad(["inspect", str(manifest), "--label-columns", "a,b"], capsys, monkeypatch)
    assert "line 3, column 'b': missing" in err and "line 4, column 'b': missing" in err
    assert str(manifest) in err


def test_a_label_column_absent_from_the_header_is_refused(tmp_path, capsys, monkeypatch) -> None:
    manifest = _manifest(tmp_path, "path,a,b", ["img0.png,1,0", "img1.png,0,1"])
    err = _bad(["inspect", str(manifest), "--label-columns", "a,c"], capsys, monkeypatch)
    assert "label column(s) 'c' of --label-columns / data.labels not found" in err


def test_a_value_other_than_0_1_or_minus_1_is_refused(tmp_path, capsys, monkeypatch) -> None:
    manifest = _manifest(
        tmp_path, "path,a,b", ["img0.png,1,0", "img1.png,yes,1", "img2.png,0,1", "img3.png,1,0"]
    )
    err = _bad(["inspect", str(manifest), "--label-columns", "a,b"], capsys, monkeypatch)
    assert "line 3, column 'a': 'yes' is not 0, 1 or -1 (uncertain)" in err


def test_an_all_zero_label_column_is_refused(tmp_path, capsys, monkeypatch) -> None:
    manifest = _manifest(
        tmp_path, "path,a,b,c", ["img0.png,1,0,0", "img1.png,0,1,0", "img2.png,1,1,0", "img3.png,0,0,0"]
    )
    err = _bad(["inspect", str(manifest), "--label-columns", "a,b,c"], capsys, monkeypatch)
    assert "label(s) 'c' never occur (all-zero column)" in err


def test_an_all_zero_npz_label_column_is_refused(tmp_path, capsys, monkeypatch) -> None:
    npz = tmp_path / "chest.npz"
    labels = np.array([[1, 0], [0, 0], [1, 0]], dtype=np.int64)
    np.savez(npz, train_images=np.zeros((3, 8, 8), np.uint8), train_labels=labels)
    err = _bad(["inspect", str(npz), "--label-columns", "effusion,mass"], capsys, monkeypatch)
    assert "label(s) 'mass' never occur (all-zero column)" in err
    err = _bad(["inspect", str(npz), "--label-columns", "effusion"], capsys, monkeypatch)
    assert "the labels have 2 columns but data.labels / --label-columns names 1" in err


def test_inspect_reports_label_frequencies_and_co_occurrence(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    manifest = make_shapes_multilabel(tmp_path / "shapes", n=40, size=16, layout="columns")
    json_out = tmp_path / "report.json"
    assert (
        run_app(
            ["inspect", str(manifest), "--label-columns", ",".join(SHAPE_LABELS), "--json", str(json_out)]
        )
        == 0
    )
    import json

    report = json.loads(json_out.read_text())
    stats = report["multilabel"]
    table = np.loadtxt(manifest, delimiter=",", skiprows=1, usecols=(1, 2, 3))
    for j, name in enumerate(SHAPE_LABELS):
        assert stats["frequency"][name]["positive"] == int(table[:, j].sum())
        assert report["counts"]["all"][name] == int(table[:, j].sum())
    assert stats["co_occurrence"]["disc"]["bar"] == int((table[:, 0] * table[:, 2]).sum())
    assert stats["no_finding"] == int((table.sum(axis=1) == 0).sum())
    assert "co-occurrence" in capsys.readouterr().out


def test_iterative_stratification_keeps_every_labels_share_and_groups_whole() -> None:
    rng = np.random.default_rng(3)
    targets = (rng.random((600, 4)) < [0.05, 0.2, 0.4, 0.6]).astype(np.float32)
    groups = np.repeat(np.arange(300), 2)  # two images per patient
    bins = stratified_assignment(targets, groups, [0.15, 0.15, 0.7], np.random.default_rng(0))
    assert all(len(set(bins[groups == g])) == 1 for g in range(300))
    for b, share in enumerate([0.15, 0.15, 0.7]):
        assert abs((bins == b).mean() - share) < 0.02
        per_label = targets[bins == b].sum(axis=0) / targets.sum(axis=0)
        assert np.all(np.abs(per_label - share) < 0.05), (b, per_label)


def test_a_label_named_like_a_table_column_is_refused(tmp_path, capsys, monkeypatch) -> None:
    manifest = _manifest(tmp_path, "path,labels", ["img0.png,effusion", "img1.png,prediction", "img2.png,"])
    err = _bad(["inspect", str(manifest)], capsys, monkeypatch)
    assert "column 'labels': bad label name(s) ['prediction']" in err
