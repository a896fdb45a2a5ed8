"""The options of train, compare, evaluate, predict, profile and demo have their effect, run through the
installed ``medclass`` console script as a user runs them.

Each test checks a figure that only the option produces (the images in each split, the checkpoint a metric
came from, the batch the model received), so it fails if the option were ignored. The trainings are tiny
(32 px, a two-block CNN, one or two epochs) and shared by the tests of this module.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from console_script import console_script, script_env

from medclass.cli.app import run_app

TINY = [
    "--model", "cnn", "--image-size", "32", "--batch-size", "8", "--lr", "0.003", "--seed", "3",
    "--set", "model.cnn.blocks=[{out_channels: 8}, {out_channels: 16}]", "--set", "model.cnn.dense=[16]",
    "--set", "scheduler.name=none", "--set", "deterministic=true", "--set", "trainer.progress_bar=false",
    "--set", "evaluation.bootstrap=0", "--set", "evaluation.report=false", "--set", "augment.preset=none",
]  # fmt: skip
PHANTOM_CLASSES = ("no_tumor", "tumor")


def medclass(*args: str | Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
    """Run the console script; fail with its output unless it exits with ``expect``."""
    done = subprocess.run(
        [*console_script(), *map(str, args)], capture_output=True, text=True, env=script_env(), timeout=300
    )
    assert done.returncode == expect, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def splits_of(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "splits.csv", dtype={"group": str})


# --- --splits, --resume, evaluate, predict: one hand-made split of the phantom data -------------------------


@pytest.fixture(scope="module")
def handmade_splits(phantom_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """splits.csv written by hand: per class, files 0-5 test, 6-9 val, the rest train (12 / 8 / 60)."""
    rows = []
    for label in PHANTOM_CLASSES:
        for i, path in enumerate(sorted((phantom_data / label).glob("*.png"))):
            rows.append(
                {
                    "path": str(path),
                    "label": label,
                    "split": "test" if i < 6 else "val" if i < 10 else "train",
                }
            )
    path = tmp_path_factory.mktemp("splits") / "my_splits.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def base_run(handmade_splits: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two epochs on the hand-made splits, every epoch's checkpoint kept."""
    out = tmp_path_factory.mktemp("base") / "run"
    medclass("train", "--splits", handmade_splits, "--out", out, "--epochs", "2",
             "--set", "checkpoint.every_epoch=true", *TINY)  # fmt: skip
    return out


def test_splits_file_is_used_as_given(base_run: Path, handmade_splits: Path) -> None:
    given = pd.read_csv(handmade_splits).set_index("path")["split"]
    used = splits_of(base_run).set_index("path")["split"]
    assert used.sort_index().equals(given.sort_index())
    assert read_json(base_run / "test_metrics.json")["n"] == 12
    assert read_json(base_run / "data_report.json")["counts"]["val"] == {"no_tumor": 4, "tumor": 4}


def test_resume_continues_the_interrupted_run(base_run: Path, handmade_splits: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    medclass("train", "--splits", handmade_splits, "--out", out, "--epochs", "1", *TINY)
    first = pd.read_csv(out / "metrics.csv")
    done = medclass("train", "--resume", "--out", out, "--epochs", "2")
    resumed = pd.read_csv(out / "metrics.csv")
    assert resumed["epoch"].tolist() == [1, 2]
    # Epoch 1 was not trained again: its row, wall time included, is the one saved before the resume.
    pd.testing.assert_frame_equal(resumed.iloc[:1], first)
    # Epoch 2 continues from the saved state: the same figures as the uninterrupted two-epoch run.
    uninterrupted = pd.read_csv(base_run / "metrics.csv")
    for column in ("train_loss", "val_loss", "val_accuracy"):
        assert resumed[column].iat[1] == pytest.approx(uninterrupted[column].iat[1], rel=1e-5), column
    assert "2 epochs" in done.stdout


def test_evaluate_split_and_epoch(base_run: Path) -> None:
    medclass("evaluate", base_run, "--split", "val", "--epoch", "1", "--bootstrap", "0")
    # Written inside the run under the split's and the epoch's name.
    saved = read_json(base_run / "evaluations" / "val_epoch01.json")
    assert saved["n"] == 8 and saved["split"] == "val"
    assert Path(saved["checkpoint"]).name == "epoch=01.ckpt"
    # The figure the training loop logged for epoch 1 on the same images (epoch 2's differs).
    logged = pd.read_csv(base_run / "metrics.csv").set_index("epoch")["val_accuracy"]
    assert logged[1] != logged[2]
    assert saved["accuracy"] == pytest.approx(logged[1], abs=1e-6)


def test_evaluate_data_scores_the_given_folder(base_run: Path, phantom_data: Path, tmp_path: Path) -> None:
    # The test images of the run under swapped labels: every right answer becomes a wrong one.
    test = splits_of(base_run).query("split == 'test'")
    swapped = tmp_path / "swapped"
    for path, label in zip(test["path"], test["label"], strict=True):
        other = PHANTOM_CLASSES[1 - PHANTOM_CLASSES.index(label)]
        (swapped / other).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, swapped / other / Path(path).name)
    medclass("evaluate", base_run, "--data", swapped, "--bootstrap", "0", "--out", tmp_path / "s.json")
    saved = read_json(tmp_path / "s.json")
    own = read_json(base_run / "test_metrics.json")
    assert saved["n"] == own["n"] == 12
    assert saved["data"] == str(swapped)
    assert own["accuracy"] > 0.7  # the model learned something, so the swap shows
    assert saved["accuracy"] == pytest.approx(1 - own["accuracy"], abs=1e-9)


def test_predict_batch_size_sets_the_batches_the_model_sees(
    base_run: Path, phantom_data: Path, tmp_path: Path
) -> None:
    from recording import module_inputs
    from torch import nn

    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted((phantom_data / "tumor").glob("*.png"))[:7]:
        shutil.copy(path, folder / path.name)
    tables = {}
    for size in ("3", "64"):
        with module_inputs(nn.Conv2d) as seen:
            out = tmp_path / f"{size}.csv"
            assert (
                run_app(["predict", str(base_run), str(folder), "--batch-size", size, "--out", str(out)]) == 0
            )
        tables[size] = pd.read_csv(out)
        # The first convolution's inputs: the batches, in order.
        assert [x.shape[0] for x in seen[0]] == ([3, 3, 1] if size == "3" else [7])
    assert len(tables["3"]) == 7
    pd.testing.assert_frame_equal(tables["3"], tables["64"], atol=1e-6)  # the same probabilities


# --- split options on data with copies: kfold, test fraction, duplicate leakage, near-duplicate distance ----


@pytest.fixture(scope="module")
def data_with_copies(phantom_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The phantom images plus a byte-identical copy of 8 images per class (16 exact-duplicate groups)."""
    root = tmp_path_factory.mktemp("copies") / "data"
    shutil.copytree(phantom_data, root, ignore=shutil.ignore_patterns("*.csv"))
    for label in PHANTOM_CLASSES:
        for path in sorted((root / label).glob("*.png"))[:8]:
            shutil.copy(path, path.with_name(f"copy_{path.name}"))
    return root


def near_groups(data: Path, distance: int) -> int:
    """Near-duplicate groups of ``data`` at ``distance``, from the hashes the scanner uses."""
    from medclass.data.duplicates import find_duplicates
    from medclass.data.scan import scan_files

    paths = sorted(str(p) for p in data.glob("*/*.png"))
    infos = scan_files(paths, workers=1)
    return len(find_duplicates(infos, {p: Path(p).parent.name for p in paths}, near_distance=distance).near)


@pytest.fixture(scope="module")
def kfold_run(data_with_copies: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One epoch on fold 1 of 4, 30% test, copies allowed to cross splits, near-duplicates at distance 8."""
    out = tmp_path_factory.mktemp("kfold") / "run"
    done = medclass("train", "--data", data_with_copies, "--out", out, "--epochs", "1", "--strategy", "kfold",
             "--folds", "4", "--fold", "1", "--test-frac", "0.3", "--allow-duplicate-leakage",
             "--near-dup-distance", "8", *TINY)  # fmt: skip
    return out, done.stdout


def test_kfold_fold_and_test_fraction(kfold_run: tuple[Path, str]) -> None:
    run, output = kfold_run
    table = splits_of(run)
    assert set(table["split"]) == {"train", "test"}  # kfold: a held-out test part, the rest in folds
    for label, rows in table.groupby("label"):
        n_test = int((rows["split"] == "test").sum())
        assert abs(n_test - 0.3 * len(rows)) <= 0.5, label  # --test-frac 0.3 (the default is 0.15)
        assert rows["fold"].isna().tolist() == (rows["split"] == "test").tolist()
    folds = table["fold"].dropna().astype(int)
    assert sorted(folds.unique()) == [0, 1, 2, 3]  # --folds 4
    # --fold 1: validation is fold 1, per class, and not fold 0 (the default), whose sizes differ.
    line = re.search(r"^\s*val\s+\d+\s+(\{.*\})$", output, re.MULTILINE)
    assert line, output
    val_counts = ast.literal_eval(line.group(1))
    fold_counts = {k: table[table["fold"] == k]["label"].value_counts().to_dict() for k in range(4)}
    assert val_counts == fold_counts[1] != fold_counts[0]


def test_duplicate_leakage_allowed_and_near_distance(
    kfold_run: tuple[Path, str], data_with_copies: Path
) -> None:
    run, _ = kfold_run
    report = read_json(run / "data_report.json")
    duplicates = report["duplicates"]
    assert duplicates["exact"]["groups"] == 16
    # Allowed: the copies were split like any other image, so some pairs sit in two splits.
    assert report["duplicate_policy"] != "kept in one split"
    table = splits_of(run)
    where = table.assign(name=table["path"].map(lambda p: Path(p).name.removeprefix("copy_")))
    where = where.assign(part=where["split"] + where["fold"].astype("string").fillna(""))
    assert (where.groupby(["label", "name"])["part"].nunique() > 1).any()
    # --near-dup-distance 8 is the distance used: the near groups found at 8, not those at the default 2.
    assert duplicates["near_distance"] == 8
    assert (
        duplicates["near"]["groups"] == near_groups(data_with_copies, 8) != near_groups(data_with_copies, 2)
    )


def test_group_regex_keeps_each_patient_in_one_split(phantom_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    # no_tumor_013.png -> patient "no_tumor_01": 4 patients of 10 images per class.
    medclass("train", "--data", phantom_data, "--out", out, "--epochs", "1", "--strategy", "group",
             "--group-regex", r"^(.+_\d\d)\d\.png$", "--val-frac", "0.25", "--test-frac", "0.25", *TINY)  # fmt: skip
    table = splits_of(out)
    assert table["group"].tolist() == [Path(p).stem[:-1] for p in table["path"]]
    assert (table.groupby("group")["split"].nunique() == 1).all()
    # A quarter of each class is test: exactly one whole patient of each class.
    test = table[table["split"] == "test"]
    assert len(test) == 20 and test.groupby("label")["group"].nunique().tolist() == [1, 1]


# --- compare --repeats -------------------------------------------------------------------------------------


def test_compare_repeats_trains_each_variant_with_more_seeds(phantom_data: Path, tmp_path: Path) -> None:
    base = {
        "seed": 5,
        "data": {"path": str(phantom_data), "image_size": 32, "batch_size": 16},
        "model": {"name": "cnn", "cnn": {"blocks": [{"out_channels": 4}], "dense": [4]}},
        "augment": {"preset": "none"},
        "trainer": {"epochs": 1, "patience": None, "progress_bar": False},
        "evaluation": {"bootstrap": 0, "report": False},
    }
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        yaml.safe_dump({"base": base, "variants": {"a": {}, "b": {"optim.lr": 0.01}}, "repeats": 1})
    )
    out = tmp_path / "cmp"
    medclass("compare", "--experiments", grid, "--repeats", "2", "--out", out)
    for variant in ("a", "b"):
        assert sorted(p.name for p in (out / variant).iterdir()) == ["seed-5", "seed-6"]
    table = pd.read_csv(out / "comparison.csv").set_index("variant")
    assert table["runs"].tolist() == [2, 2]
    accuracies = [read_json(out / "b" / f"seed-{s}" / "test_metrics.json")["accuracy"] for s in (5, 6)]
    assert table.loc["b", "accuracy"] == pytest.approx(sum(accuracies) / 2, abs=1e-6)
    assert "accuracy_std" in table.columns


# --- profile ------------------------------------------------------------------------------------------------


def test_profile_options_reach_the_report(tmp_path: Path) -> None:
    out = tmp_path / "profile.json"
    medclass("profile", "--model", "cnn", "--image-size", "32", "--in-chans", "3", "--num-classes", "5",
             "--batch-sizes", "1,3", "--repeats", "1", "--threads", "3", "--no-layers", "--json", out)  # fmt: skip
    report = read_json(out)
    assert (report["in_chans"], report["num_classes"], report["image_size"]) == (3, 5, 32)
    assert [lat["batch_size"] for lat in report["latency"]] == [1, 3]
    assert report["threads"] == 3
    convs = [row for row in report["layers"] if row["type"] == "Conv2d"]
    first, last = convs[0], report["layers"][-1]
    assert first["output_shape"][1:] == [32, 32] and last["output_shape"] == [5]
    one_channel = tmp_path / "one.json"
    medclass("profile", "--model", "cnn", "--image-size", "32", "--in-chans", "1", "--num-classes", "5",
             "--no-latency", "--no-layers", "--json", one_channel)  # fmt: skip
    # Two more input channels: two more 3x3 kernels per filter of the first convolution.
    filters = first["output_shape"][0]
    assert report["params"]["total"] - read_json(one_channel)["params"]["total"] == 2 * 9 * filters
    assert read_json(one_channel)["latency"] == []


# --- demo ---------------------------------------------------------------------------------------------------


def test_demo_makes_data_trains_and_reports(tmp_path: Path) -> None:
    data, out = tmp_path / "demo_data", tmp_path / "run"
    done = medclass("demo", "--data-dir", data, "--out", out, "--n-per-class", "10",
                    "--set", "data.image_size=32", "--set", "trainer.epochs=1", "--set", "evaluation.bootstrap=0")  # fmt: skip
    assert sorted(p.name for p in data.iterdir() if p.is_dir()) == ["no_tumor", "tumor"]
    assert [len(list((data / c).glob("*.png"))) for c in ("no_tumor", "tumor")] == [10, 10]
    assert "generating 20 phantom MRI images" in done.stdout
    metrics = read_json(out / "test_metrics.json")
    assert metrics["classes"] == ["no_tumor", "tumor"] and metrics["n"] == 4  # 20% of 20 images
    assert (out / "report.html").is_file()
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model"]["name"] == "cnn" and config["data"]["image_size"] == 32
