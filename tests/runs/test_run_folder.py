"""The run folder read back without training: checkpoint names and resolution, the marker, the loader, the
best-epoch rule, the fold view and the default run folder. Folders are written by hand, as a run writes them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from medclass.config import build_config
from medclass.runs import layout
from medclass.runs.campaign_layout import StudyLayout, default_compare_dir
from medclass.runs.layout import (
    RunLayout,
    checkpoint_epoch_of_name,
    epoch_checkpoint_name,
    read_marker,
    resolve_checkpoint,
    run_dir_of,
    write_marker,
)
from medclass.runs.load import best_epoch_of, load_run, monitor_mode, training_view
from medclass.runs.naming import RUNS_ROOT, default_run_name, resolve_run_dir
from medclass.utils.errors import RunDirError


def _touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- checkpoint names and resolution -------------------------------------------------------------------------


def test_epoch_checkpoint_names_round_trip() -> None:
    assert epoch_checkpoint_name(3) == "epoch=03.ckpt"
    assert epoch_checkpoint_name(120) == "epoch=120.ckpt"
    for epoch in (1, 9, 10, 120):
        assert checkpoint_epoch_of_name(epoch_checkpoint_name(epoch)) == epoch
    for name in ("best.ckpt", "last.ckpt", "epoch=.ckpt", "epoch=3a.ckpt", "03.ckpt", "epoch=-1.ckpt"):
        assert checkpoint_epoch_of_name(name) is None, name
    assert checkpoint_epoch_of_name("epoch=07") == 7  # the suffix is optional


def test_run_layout_paths_and_kept_epochs(tmp_path: Path) -> None:
    run = RunLayout(tmp_path)
    assert run.checkpoints == tmp_path / "checkpoints"
    assert run.best_checkpoint == tmp_path / "checkpoints" / "best.ckpt"
    assert run.last_checkpoint == tmp_path / "checkpoints" / "last.ckpt"
    assert run.first_fit_checkpoint == tmp_path / "checkpoints" / "first_fit.ckpt"
    assert run.epoch_checkpoint(4) == tmp_path / "checkpoints" / "epoch=04.ckpt"
    assert run.refit == tmp_path / "refit"
    assert run.file("metrics.csv") == tmp_path / "metrics.csv"
    assert run.plot("roc") == tmp_path / "plots" / "roc.png"
    assert run.kept_epochs() == [] and not run.has_checkpoint()
    _touch(run.checkpoints / "notes.txt")
    assert not run.has_checkpoint()
    for name in ("epoch=10.ckpt", "epoch=02.ckpt", "best.ckpt", "epoch=xx.ckpt"):
        _touch(run.checkpoints / name)
    assert run.kept_epochs() == [2, 10]
    assert run.has_checkpoint()


def test_resolve_checkpoint_from_a_folder_an_epoch_or_a_file(tmp_path: Path) -> None:
    run = RunLayout(tmp_path / "run")
    with pytest.raises(RunDirError, match=r"run: no such run folder or checkpoint file"):
        resolve_checkpoint(run.root)
    run.root.mkdir()
    with pytest.raises(RunDirError, match=r"best\.ckpt: not found$"):
        resolve_checkpoint(run.root)
    best = _touch(run.best_checkpoint)
    _touch(run.epoch_checkpoint(2))
    assert resolve_checkpoint(run.root) == best
    assert resolve_checkpoint(str(run.root), epoch=2) == run.epoch_checkpoint(2)
    assert resolve_checkpoint(best) == best
    with pytest.raises(
        RunDirError, match=r"--epoch needs a run folder, not the checkpoint file .*best\.ckpt"
    ):
        resolve_checkpoint(best, epoch=2)
    message = (
        r"epoch=05\.ckpt: not found \(kept: best\.ckpt, epoch=02\.ckpt\); "
        r"train with checkpoint\.every_epoch: true to keep every epoch"
    )
    with pytest.raises(RunDirError, match=message):
        resolve_checkpoint(run.root, epoch=5)


def test_run_dir_of_a_folder_or_a_checkpoint_inside_it(tmp_path: Path) -> None:
    run = RunLayout(tmp_path / "run")
    best = _touch(run.best_checkpoint)
    assert run_dir_of(run.root) == run.root
    assert run_dir_of(best) == run.root
    assert run_dir_of(str(best)) == run.root
    loose = _touch(tmp_path / "model.ckpt")
    with pytest.raises(
        RunDirError, match=r"model\.ckpt: a checkpoint outside a run folder has no splits; pass --data"
    ):
        run_dir_of(loose)


# --- the marker ---------------------------------------------------------------------------------------------


def test_marker_written_and_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "medclass_version", lambda: "9.9.9")
    marker = write_marker(tmp_path, "tune")
    assert json.loads((tmp_path / "run.json").read_text()) == marker == read_marker(tmp_path)
    assert marker["kind"] == "tune" and marker["medclass_version"] == "9.9.9"
    assert re.fullmatch(r"[0-9a-f]{32}", marker["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", marker["created"])
    assert write_marker(tmp_path, "tune")["id"] != marker["id"]  # a fresh id each time


@pytest.mark.parametrize("content", ['{"kind": 3}', '["run"]', "{not json", '{"id": "x"}'])
def test_a_marker_without_a_kind_is_no_marker(tmp_path: Path, content: str) -> None:
    _touch(tmp_path / "run.json", content)
    assert read_marker(tmp_path) is None
    assert read_marker(tmp_path / "missing") is None


def test_medclass_version_is_the_installed_one() -> None:
    from importlib import metadata

    assert layout.medclass_version() == metadata.version("medclass")


# --- the loader and the best-epoch rule ---------------------------------------------------------------------


def test_monitor_mode_and_best_epoch() -> None:
    assert monitor_mode("val_loss") == "min"
    assert monitor_mode("val_auroc") == monitor_mode("val_acc") == "max"
    table = pd.DataFrame(
        {
            "epoch": [1, 2, 3, 4],
            "val_loss": [0.9, 0.4, 0.4, 0.6],
            "val_acc": [0.5, 0.8, 0.8, "n/a"],
            "empty": [None, None, None, None],
        }
    )
    assert best_epoch_of(table, "val_loss") == 2  # the first of equal values
    assert best_epoch_of(table, "val_acc") == 2
    assert best_epoch_of(table, "empty") is None
    assert best_epoch_of(table, "val_f1") is None
    assert best_epoch_of(None, "val_loss") is None
    shifted = table.assign(epoch=[5, 6, 7, 8])  # the epoch column, not the row number
    assert best_epoch_of(shifted, "val_loss") == 6


def test_training_view_makes_one_fold_validation() -> None:
    table = pd.DataFrame(
        {
            "path": list("abcdef"),
            "split": ["train", "train", "val", "train", "test", "train"],
            "fold": [0, 1, 2, 1, None, 0],
        }
    )
    view = training_view(table, 1)
    assert view["split"].tolist() == ["train", "val", "train", "val", "test", "train"]
    assert table["split"].tolist() == ["train", "train", "val", "train", "test", "train"]  # not modified
    assert training_view(table, 0)["split"].tolist() == ["val", "train", "train", "train", "test", "val"]
    plain = table.drop(columns="fold")
    assert training_view(plain, 1) is plain
    # A test image keeps its split even with a fold number.
    tested = table.assign(fold=[0, 1, 2, 1, 1, 0])
    assert training_view(tested, 1)["split"].tolist() == ["train", "val", "train", "val", "test", "train"]
    no_folds = table.assign(fold=None)
    assert training_view(no_folds, 0)["split"].tolist() == table["split"].tolist()


def _run_folder(root: Path) -> Path:
    _touch(root / "config.yaml", "name: brain\nseed: 7\ntrainer:\n  monitor: val_auroc\n")
    _touch(root / "metrics.csv", "epoch,val_auroc,val_loss\n1,0.7,0.5\n2,0.9,0.6\n3,0.8,0.4\n")
    _touch(root / "data_report.json", json.dumps({"classes": ["no", "yes"]}))
    _touch(root / "predictions_test.csv", "path,label,p_no,p_yes\na.png,yes,0.2,0.8\nb.png,no,0.7,0.3\n")
    _touch(root / "plots" / "roc.png")
    _touch(root / "plots" / "model_artifacts.json", json.dumps({"figures": ["roc"]}))
    _touch(root / "explanations" / "gradcam" / "explanations.csv", "path,map\na.png,a_map.png\n")
    (root / "explanations" / "empty").mkdir(parents=True)
    return root


def test_load_run_reads_every_file_it_finds(tmp_path: Path) -> None:
    run = load_run(_run_folder(tmp_path / "run"))
    assert run.name == "brain" and run.seed == 7 and run.monitor == "val_auroc"
    assert run.classes == ["no", "yes"]  # from the data report
    assert run.best_epoch == 2  # val_auroc is maximised
    assert run.metrics["epoch"].tolist() == [1, 2, 3]
    assert run.artifacts_info == {"figures": ["roc"]}
    assert list(run.explanations) == ["gradcam"] and run.explanations["gradcam"]["map"].tolist() == [
        "a_map.png"
    ]
    assert run.plot("roc") == tmp_path / "run" / "plots" / "roc.png" and run.plot("pr") is None
    assert run.plots_dir == tmp_path / "run" / "plots"
    assert (run.test_metrics, run.splits, run.referral, run.model_profile, run.epoch_metrics) == (None,) * 5
    y, probs, classes = run.test_scores()
    assert y.tolist() == [1, 0] and probs.tolist() == [[0.2, 0.8], [0.7, 0.3]] and classes == ["no", "yes"]
    run.require("metrics.csv", "config.yaml", purpose="to plot")
    with pytest.raises(RunDirError, match=r"missing test_metrics\.json, splits\.csv; the report needs them"):
        run.require("test_metrics.json", "metrics.csv", "splits.csv", purpose="the report needs them")
    # The optional files, when present.
    root = tmp_path / "run"
    _touch(root / "splits.csv", "path,label,split\na.png,yes,test\n")
    _touch(root / "epoch_metrics.csv", "epoch,accuracy\n1,0.5\n")
    _touch(root / "referral.csv", "referred,accuracy\n0.1,0.9\n")
    _touch(root / "model_profile.json", json.dumps({"parameters": 11}))
    _touch(root / "test_metrics.json", json.dumps({"accuracy": 0.5}))
    run = load_run(root)
    assert run.splits["split"].tolist() == ["test"] and run.epoch_metrics["accuracy"].tolist() == [0.5]
    assert run.referral["referred"].tolist() == [0.1] and run.model_profile == {"parameters": 11}
    assert run.test_metrics == {"accuracy": 0.5}


def test_test_metrics_come_first_for_classes_and_best_epoch(tmp_path: Path) -> None:
    root = _run_folder(tmp_path / "run")
    _touch(root / "test_metrics.json", json.dumps({"classes": ["neg", "pos"], "best_epoch": 3}))
    run = load_run(root)
    assert run.classes == ["neg", "pos"] and run.best_epoch == 3
    (root / "test_metrics.json").write_text(json.dumps({"classes": [], "best_epoch": "2"}))
    (root / "data_report.json").unlink()
    (root / "config.yaml").write_text("seed: 1\n")
    run = load_run(root)
    assert run.classes == ["no", "yes"]  # from the prediction columns
    assert run.best_epoch == 3  # not an int in test_metrics: val_loss (the default monitor) is minimised
    assert run.monitor == "val_loss" and run.name == "run"


def test_test_scores_name_what_is_wrong(tmp_path: Path) -> None:
    root = _run_folder(tmp_path / "run")
    (root / "predictions_test.csv").write_text("path,label,p_no\na.png,yes,0.2\n")
    with pytest.raises(
        RunDirError, match=r"predictions_test\.csv: missing column\(s\) \['p_yes'\]; expected label"
    ):
        load_run(root).test_scores()
    (root / "predictions_test.csv").write_text("path,label,p_no,p_yes\na.png,maybe,0.2,1.3\n")
    with pytest.raises(RunDirError, match=r"labels \['maybe'\] are not among the classes \['no', 'yes'\]"):
        load_run(root).test_scores()
    (root / "predictions_test.csv").write_text("path,label,p_no,p_yes\na.png,yes,-0.1,1.3\n")
    assert load_run(root).test_scores()[1].tolist() == [[0.0, 1.0]]  # clipped to [0, 1]
    (root / "predictions_test.csv").write_text("path,label,p_no,p_yes\n")
    assert load_run(root).test_scores() is None


def test_a_folder_without_config_or_with_broken_files_is_named(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match=r"not a medclass run folder \(no config\.yaml\)"):
        load_run(tmp_path)
    root = _run_folder(tmp_path / "run")
    (root / "data_report.json").write_text("{broken")
    with pytest.raises(RunDirError, match=r"data_report\.json: not valid JSON"):
        load_run(root)
    (root / "data_report.json").unlink()
    (root / "metrics.csv").write_text("")
    with pytest.raises(RunDirError, match=r"metrics\.csv: not a readable CSV table"):
        load_run(root)


# --- the default run folder ---------------------------------------------------------------------------------


def test_the_run_folder_is_out_then_name_then_a_fresh_dated_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "Training"
    assert resolve_run_dir(build_config({"data": {"path": str(data)}, "out": "here"})) == Path("here")
    named = build_config({"data": {"path": str(data)}, "name": "brain"})
    assert resolve_run_dir(named) == RUNS_ROOT / "brain" == Path("runs/brain")
    config = build_config({"data": {"path": str(data)}, "model": {"name": "resnet18"}})
    name = default_run_name(config)
    assert re.fullmatch(r"Training-resnet18-\d{8}-\d{6}", name)
    monkeypatch.setattr("medclass.runs.naming.default_run_name", lambda _config: "Training-resnet18-1")
    assert resolve_run_dir(config) == Path("runs/Training-resnet18-1")
    Path("runs/Training-resnet18-1").mkdir(parents=True)
    assert resolve_run_dir(config) == Path("runs/Training-resnet18-1-2")
    Path("runs/Training-resnet18-1-2").mkdir()
    assert resolve_run_dir(config) == Path("runs/Training-resnet18-1-3")


def test_default_run_name_without_data_and_of_a_hub_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("medclass.runs.naming.time.strftime", lambda _format: "20261206-120000")
    hub = SimpleNamespace(data=SimpleNamespace(path=None), model=SimpleNamespace(name="timm:hf-hub/org/vit"))
    assert default_run_name(hub) == "data-hf-hub-org-vit-20261206-120000"


def test_fold_folders_of_a_study_and_the_default_compare_folder(tmp_path: Path) -> None:
    study = StudyLayout(tmp_path)
    assert study.fold_run_dir(3, 1, folds=2) == tmp_path / "trials" / "trial-0003" / "fold-1"
    assert re.fullmatch(r"compare-\d{8}-\d{6}", default_compare_dir(None).name)
