"""evaluate on the run's split, on a foreign folder, per epoch; predict with unreadable files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medclass.api import evaluate, predict
from medclass.utils.errors import DataError, RunDirError


def test_evaluate_run_reproduces_test_metrics(trained_run: Path) -> None:
    saved = json.loads((trained_run / "test_metrics.json").read_text())
    result = evaluate(trained_run, bootstrap=0)
    assert result["n"] == saved["n"]
    assert result["accuracy"] == pytest.approx(saved["accuracy"])
    assert result["confusion_matrix"] == saved["confusion_matrix"]


def test_evaluate_with_tta_scores_the_mean_of_the_views(trained_run: Path, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    from medclass.inference.runner import Predictor

    plain = evaluate(trained_run, bootstrap=0, out=tmp_path / "plain.json")
    one_view = evaluate(trained_run, bootstrap=0, tta=1, out=tmp_path / "one.json")
    assert one_view["confusion_matrix"] == plain["confusion_matrix"] and one_view["tta"] == 1
    scored = evaluate(trained_run, bootstrap=0, tta=4, out=tmp_path / "tta.json")
    splits = pd.read_csv(trained_run / "splits.csv")
    test = splits[splits["split"] == "test"]
    predictor = Predictor.load(trained_run)
    views = predictor.predict_files(test["path"].tolist(), tta=4)
    truth = np.array([predictor.classes.index(label) for label in test["label"]])
    assert views.passes == 4 and scored["tta"] == 4
    assert scored["accuracy"] == pytest.approx(float(np.mean(views.predicted == truth)))
    assert json.loads((tmp_path / "tta.json").read_text())["tta"] == 4


def test_evaluate_a_kept_epoch(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "epoch1.json"
    result = evaluate(trained_run, epoch=1, out=out, bootstrap=0)
    assert json.loads(out.read_text())["n"] == result["n"] == 20
    with pytest.raises(RunDirError, match=r"epoch=09\.ckpt"):
        evaluate(trained_run, epoch=9)


def test_evaluate_on_a_foreign_folder(trained_run: Path, phantom_data: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    for label in ("no_tumor", "tumor"):
        (foreign / label).mkdir(parents=True)
        for path in sorted((phantom_data / label).glob("*.png"))[:5]:
            shutil.copy(path, foreign / label / path.name)
    result = evaluate(trained_run, data=foreign, bootstrap=0)
    assert result["n"] == 10
    assert sum(map(sum, result["confusion_matrix"])) == 10


def test_evaluate_refuses_unknown_classes(trained_run: Path, phantom_data: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    for label in ("glioma", "tumor"):
        (other / label).mkdir(parents=True)
        shutil.copy(next((phantom_data / "tumor").glob("*.png")), other / label / "x.png")
    with pytest.raises(DataError, match="glioma"):
        evaluate(trained_run, data=other)


def test_predict_keeps_going_past_unreadable_files(
    trained_run: Path, phantom_data: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    good = sorted((phantom_data / "tumor").glob("*.png"))[:3]
    for path in good:
        shutil.copy(path, folder / path.name)
    (folder / "empty.png").write_bytes(b"")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "pred.csv"
    table = predict(trained_run / "checkpoints" / "best.ckpt", [folder], out=out)
    assert out.is_file()
    assert len(table) == 5
    errors = table.set_index(table["path"].map(lambda p: Path(p).name))["error"]
    assert errors["empty.png"] and errors["broken.jpg"]
    ok = table[table["error"] == ""]
    assert len(ok) == 3
    assert set(ok["prediction"]) <= {"no_tumor", "tumor"}
    assert ok[["p_no_tumor", "p_tumor"]].sum(axis=1).round(5).eq(1).all()
