"""A data set's own test split (or ``--test-data``): only val is carved out of train; ``--refit`` on train+val."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from medclass.cli.app import run_app
from medclass.config.schema import SplitConfig
from medclass.data.discovery import discover
from medclass.data.scan import scan_files
from medclass.data.splits import make_splits
from tests.conftest import write_image

FAST_FLAGS = [
    "--model", "cnn", "--image-size", "32", "--batch-size", "16",
    "--set", "model.cnn.blocks=[{out_channels: 4}, {out_channels: 8}]",
    "--set", "trainer.progress_bar=false", "--set", "evaluation.bootstrap=20",
    "--set", "evaluation.report=false", "--set", "trainer.patience=null",
]  # fmt: skip


def _folder(root: Path, per_class: int, seed: int) -> Path:
    for c, label in enumerate(("a", "b")):
        for i in range(per_class):
            write_image(root / label / f"img{i}.png", size=(16, 16), seed=seed + 1000 * c + i)
    return root


def _splits(root: Path, tmp_path: Path, **cfg) -> pd.DataFrame:
    index = discover(root)
    infos = scan_files([s.path for s in index.samples], cache_dir=tmp_path / "cache", workers=1)
    return make_splits(index, infos, SplitConfig(**cfg), 0)


def test_training_testing_folders_carve_ten_percent_val_out_of_train(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _folder(root / "Training", 30, seed=0)
    _folder(root / "Testing", 8, seed=50_000)
    table = _splits(root, tmp_path)
    counts = table.groupby(["split", "label"]).size().to_dict()
    # 10% of each class's 30 training images become val; the given test split is kept whole.
    assert counts == {
        ("train", "a"): 27, ("train", "b"): 27, ("val", "a"): 3, ("val", "b"): 3,
        ("test", "a"): 8, ("test", "b"): 8,
    }  # fmt: skip
    assert table[table["split"] == "test"]["path"].str.contains("/Testing/").all()
    # An explicit --val-frac still wins.
    explicit = _splits(root, tmp_path, val_frac=0.2)
    assert (explicit["split"] == "val").sum() == 12


def test_a_folder_without_test_split_keeps_the_three_way_default(tmp_path: Path) -> None:
    table = _splits(_folder(tmp_path / "data", 20, seed=0), tmp_path)
    assert table["split"].value_counts().to_dict() == {"train": 28, "val": 6, "test": 6}


def test_test_data_is_the_whole_test_split(tmp_path: Path) -> None:
    data = _folder(tmp_path / "train_images", 20, seed=0)
    test = _folder(tmp_path / "held_out", 6, seed=70_000)
    out = tmp_path / "run"
    code = run_app(
        [
            "train",
            "--data",
            str(data),
            "--test-data",
            str(test),
            "--epochs",
            "1",
            "--out",
            str(out),
            *FAST_FLAGS,
        ]
    )
    assert code == 0
    table = pd.read_csv(out / "splits.csv")
    assert table["split"].value_counts().to_dict() == {"train": 36, "val": 4, "test": 12}
    assert sorted(table[table["split"] == "test"]["path"]) == sorted(str(p) for p in test.rglob("*.png"))
    assert json.loads((out / "test_metrics.json").read_text())["n"] == 12


def test_test_data_refusals_exit_2(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    presplit = tmp_path / "presplit"
    _folder(presplit / "train", 10, seed=0)
    _folder(presplit / "test", 5, seed=9000)
    test = _folder(tmp_path / "held_out", 5, seed=70_000)
    base = ["train", "--test-data", str(test), "--epochs", "1", *FAST_FLAGS]
    assert run_app([*base, "--data", str(presplit), "--out", str(tmp_path / "r1")]) == 2
    assert "has a test split of its own" in " ".join(capsys.readouterr().err.split())
    flat = _folder(tmp_path / "flat", 10, seed=0)
    assert (
        run_app([*base, "--data", str(flat), "--strategy", "stratified", "--out", str(tmp_path / "r2")]) == 2
    )
    assert not (tmp_path / "r2").exists()  # refused before the run folder is made
    assert "cannot be used with --test-data" in " ".join(capsys.readouterr().err.split())
    other = tmp_path / "other_classes"
    shutil.copytree(test, other)
    (other / "b").rename(other / "c")
    assert (
        run_app([*base, "--data", str(flat), "--test-data", str(other), "--out", str(tmp_path / "r3")]) == 2
    )
    assert "test classes ['c'] are not among the training classes" in " ".join(
        capsys.readouterr().err.split()
    )


def test_refit_trains_on_train_and_val_for_the_best_epoch_count(tmp_path: Path, phantom_data: Path) -> None:
    root = tmp_path / "data"
    for split, names in (("train", slice(0, 30)), ("test", slice(30, 40))):
        for folder in sorted(d for d in phantom_data.iterdir() if d.is_dir()):
            (root / split / folder.name).mkdir(parents=True)
            for f in sorted(folder.glob("*.png"))[names]:
                shutil.copy(f, root / split / folder.name / f.name)
    out = tmp_path / "run"
    assert (
        run_app(["train", "--data", str(root), "--epochs", "3", "--refit", "--out", str(out), *FAST_FLAGS])
        == 0
    )

    table = pd.read_csv(out / "splits.csv")
    n_train, n_val = (table["split"] == "train").sum(), (table["split"] == "val").sum()
    assert (n_train, n_val) == (54, 6)
    metrics = json.loads((out / "test_metrics.json").read_text())
    first = pd.read_csv(out / "metrics.csv")
    best_epoch = int(first.loc[first["val_loss"].idxmin(), "epoch"])
    assert metrics["refit"]["epochs"] == best_epoch == metrics["best_epoch"]
    assert metrics["refit"]["train_images"] == n_train + n_val
    assert len(pd.read_csv(out / "refit" / "metrics.csv")) == best_epoch
    assert metrics["n"] == 20

    refit = torch.load(out / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    first_fit = torch.load(out / "checkpoints" / "first_fit.ckpt", map_location="cpu", weights_only=False)
    assert "optimizer_states" not in refit
    assert refit["medclass"]["decision"]["temperature"] == pytest.approx(
        first_fit["medclass"]["decision"]["temperature"]
    )
    weights = [k for k in refit["state_dict"] if k.endswith("weight")]
    assert any(not torch.equal(refit["state_dict"][k], first_fit["state_dict"][k]) for k in weights)
    # The refit model is the run's model: evaluate reads it and finds the same test accuracy.
    assert run_app(["evaluate", str(out), "--out", str(tmp_path / "eval.json")]) == 0
    evaluated = json.loads((tmp_path / "eval.json").read_text())
    assert evaluated["accuracy"] == pytest.approx(metrics["accuracy"])
