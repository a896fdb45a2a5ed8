"""The five-variant grid: table with CIs and McNemar p-values, plots, resumability, refusals."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from medclass.api.compare import CompareResult, compare
from medclass.campaigns.comparison import compare_runs
from medclass.evaluation.stats import mcnemar_test
from medclass.utils.errors import DataError, RunDirError
from medclass.utils.io import read_json

VARIANTS = {
    "baseline": {},
    "l2_penalty": {"loss.l2_penalty": 0.001},
    "dropout_head": {"model.drop_rate": 0.5},
    "sharpness": {"augment.sharpness": {"factor": 1.2, "p": 0.2}},
    "contrast": {"augment.contrast": 0.2},
}


@pytest.fixture(scope="module")
def five_variants(
    make_tiny_tree: Callable[[], dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, CompareResult]:
    """The five-variant grid, run once: (grid file, result)."""
    folder = tmp_path_factory.mktemp("grid")
    grid = folder / "five.yaml"
    base = make_tiny_tree()
    # Enough training for the variants to predict differently, so that McNemar has discordant pairs.
    base["trainer"]["epochs"] = 3
    base["optim"]["lr"] = 0.01
    base["data"]["batch_size"] = 8
    grid.write_text(yaml.safe_dump({"base": base, "variants": VARIANTS}, sort_keys=False))
    return grid, compare(experiments=grid, out=folder / "out")


def test_table_has_cis_costs_and_mcnemar_against_the_best(five_variants: tuple[Path, CompareResult]) -> None:
    _, result = five_variants
    table = pd.read_csv(result.table_csv)
    assert table["variant"].tolist() == list(VARIANTS)
    for metric in ("accuracy", "macro_f1", "auroc"):
        low, value, high = table[f"{metric}_ci_low"], table[metric], table[f"{metric}_ci_high"]
        assert ((low <= value + 1e-9) & (value <= high + 1e-9)).all(), metric
    assert (table["params"] > 0).all() and (table["gmacs"] > 0).all() and (table["train_seconds"] > 0).all()
    assert table["best_epoch"].between(1, 3).all() and (table["n_test"] == 20).all()
    best = result.comparison.best
    assert table.loc[table["variant"] == best, "macro_f1"].item() == table["macro_f1"].max()
    others = table[table["variant"] != best]
    assert (
        others["mcnemar_p"].between(0, 1).all()
        and table.loc[table["variant"] == best, "mcnemar_p"].isna().all()
    )
    discordant = sum(int(b) + int(c) for b, c in zip(others["mcnemar_b"], others["mcnemar_c"], strict=True))
    assert discordant > 0  # the variants disagree on some test images
    # The counts are those of the runs' own predictions: recompute one pair from predictions_test.csv.
    other = others.iloc[0]
    predictions = {
        v: pd.read_csv(result.runs[v][0] / "predictions_test.csv").set_index("path")
        for v in (best, other["variant"])
    }
    right = {v: (p["prediction"] == p["label"]) for v, p in predictions.items()}
    expected = mcnemar_test(
        right[best].to_numpy(), right[other["variant"]].reindex(right[best].index).to_numpy()
    )
    assert (int(other["mcnemar_b"]), int(other["mcnemar_c"])) == (expected["b"], expected["c"])
    assert other["mcnemar_p"] == pytest.approx(expected["p_value"])
    markdown = result.table_md.read_text()
    assert (
        all(v in markdown for v in VARIANTS)
        and f"McNemar p vs {best}" in markdown
        and "95% stratified" in markdown
    )
    page = (result.out_dir / "comparison.html").read_text()
    assert 'id="comparison"' in page and page.count('<img src="data:image/png;base64,') == len(result.plots)
    for name in ("bars_accuracy", "bars_macro_f1", "curves_val_loss", "curves_val_accuracy"):
        assert (result.out_dir / "plots" / f"{name}.png").stat().st_size > 1000, name
    # Variants really differ where they should: dropout and L2 are in the saved configs.
    saved = yaml.safe_load((result.runs["dropout_head"][0] / "config.yaml").read_text())
    assert saved["model"]["drop_rate"] == 0.5 and saved["split"]["seed"] == 5  # split fixed to the base seed


def test_a_second_run_of_the_grid_trains_nothing(five_variants: tuple[Path, CompareResult], capsys) -> None:
    grid, first = five_variants
    stamps = {v: (d[0] / "test_metrics.json").stat().st_mtime_ns for v, d in first.runs.items()}
    second = compare(experiments=grid, out=first.out_dir)
    assert {v: (d[0] / "test_metrics.json").stat().st_mtime_ns for v, d in second.runs.items()} == stamps
    assert "5 finished already, 0 to run" in capsys.readouterr().out
    pd.testing.assert_frame_equal(second.comparison.table, first.comparison.table)


def test_a_changed_variant_is_refused_not_mixed_in(
    five_variants: tuple[Path, CompareResult], tmp_path: Path
) -> None:
    grid, first = five_variants
    changed = yaml.safe_load(grid.read_text())
    changed["variants"]["dropout_head"] = {"model.drop_rate": 0.3}
    edited = tmp_path / "five.yaml"
    edited.write_text(yaml.safe_dump(changed))
    with pytest.raises(RunDirError, match="model.drop_rate"):
        compare(experiments=edited, out=first.out_dir)
    assert (first.runs["dropout_head"][0] / "test_metrics.json").is_file()  # nothing deleted


def test_runs_on_different_test_images_are_refused(
    five_variants: tuple[Path, CompareResult], tmp_path: Path
) -> None:
    _, first = five_variants
    copy = tmp_path / "other"
    shutil.copytree(first.runs["baseline"][0], copy)
    predictions = pd.read_csv(copy / "predictions_test.csv")
    predictions.iloc[1:].to_csv(copy / "predictions_test.csv", index=False)  # one test image fewer
    with pytest.raises(DataError, match="tested on different images \\(1 only in the first"):
        compare_runs({"a": [first.runs["baseline"][0]], "b": [copy]})


def test_repeats_give_mean_and_std(make_tiny_tree: Callable[[], dict[str, Any]], tmp_path: Path) -> None:
    grid = tmp_path / "grid.yaml"
    variants = {"baseline": {}, "dropout_head": {"model.drop_rate": 0.5}}
    grid.write_text(yaml.safe_dump({"base": make_tiny_tree(), "models": ["cnn"], "variants": variants}))
    result = compare(experiments=grid, out=tmp_path / "out", repeats=2)
    table = result.comparison.table
    assert table["variant"].tolist() == ["baseline-cnn", "dropout_head-cnn"] and (table["runs"] == 2).all()
    for variant, dirs in result.runs.items():
        assert [d.name for d in dirs] == ["seed-5", "seed-6"]
        accuracies = [read_json(d / "test_metrics.json")["accuracy"] for d in dirs]
        row = table.set_index("variant").loc[variant]
        assert row["accuracy"] == pytest.approx(np.mean(accuracies))
        assert row["accuracy_std"] == pytest.approx(np.std(accuracies, ddof=1))
    assert "mean ± std over 2 seeds" in result.table_md.read_text()


def test_the_example_five_variant_grid_plans_valid_runs(tmp_path: Path) -> None:
    from medclass.campaigns.grid import load_grid, plan_runs

    grid = load_grid(
        Path(__file__).resolve().parents[2] / "examples" / "campaigns" / "xray_five_variants.yaml"
    )
    planned = plan_runs(grid, tmp_path, ["data.image_size=64"], {"data.path": "data"})
    assert [run.variant for run in planned] == list(VARIANTS)
    configs = {run.variant: run.config for run in planned}
    assert configs["l2_penalty"].loss.l2_penalty == 0.001 and configs["baseline"].loss.l2_penalty == 0
    assert (
        configs["sharpness"].augment.sharpness.factor == 1.2 and configs["contrast"].augment.contrast == 0.2
    )
    assert {c.model.name for c in configs.values()} == {"resnet50"} and configs[
        "dropout_head"
    ].model.drop_rate == 0.5
    assert all(c.data.image_size == 64 and c.split.strategy == "sorted-id" for c in configs.values())


def test_a_grid_base_file_may_build_on_another_config(tmp_path: Path) -> None:
    from medclass.campaigns.grid import load_grid, plan_runs

    (tmp_path / "shared.yaml").write_text("model: {name: cnn}\noptim: {lr: 0.01}\n")
    (tmp_path / "base.yaml").write_text("base: shared.yaml\noptim: {name: sgd}\n")
    (tmp_path / "grid.yaml").write_text("base: base.yaml\nvariants: {a: {}, b: {optim.lr: 0.1}}\n")
    runs = plan_runs(load_grid(tmp_path / "grid.yaml"), tmp_path / "out")
    assert [(r.config.model.name, r.config.optim.name, r.config.optim.lr) for r in runs] == [
        ("cnn", "sgd", 0.01),
        ("cnn", "sgd", 0.1),
    ]
