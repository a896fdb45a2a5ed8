"""The end of ``train`` and ``medclass report``: figures, model artifacts, report.html, summary.md, and the
per-epoch test table of ``evaluate --all-epochs``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medclass.api import evaluate
from medclass.api.evaluate_epochs import evaluate_epochs
from medclass.api.explain import explain
from medclass.api.report import report
from medclass.config import build_config
from medclass.data.preprocess import load_preprocessed
from medclass.explain.methods import default_method, plan_explanation
from medclass.explain.targets import stage_layers
from medclass.inference.checkpoint import load_for_inference
from medclass.models.profile import count_macs, count_parameters
from medclass.reporting.model_figures import augmented_views
from medclass.transforms.pipelines import TrainTransform

PLOTS = (
    "learning_curves",
    "confusion_matrix",
    "confusion_matrix_normalized",
    "roc",
    "pr",
    "reliability",
    "class_distribution",
    "augmented_samples",
    "test_predictions",
    "feature_maps",
)


@pytest.fixture
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    """A copy of the shared run, so a test may change it."""
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


def test_train_leaves_report_summary_plots_and_model_profile(trained_run: Path) -> None:
    for name in PLOTS:
        assert (trained_run / "plots" / f"{name}.png").is_file(), name
    html = (trained_run / "report.html").read_text()
    panel = (trained_run / "plots" / "error_cams.png").is_file()  # only when the test split has errors
    assert html.count('<img src="data:image/png;base64,') == len(PLOTS) + panel
    saved = json.loads((trained_run / "test_metrics.json").read_text())
    assert f"{saved['accuracy']:.3f} [{saved['ci']['accuracy']['ci_low']:.3f}" in html
    summary = (trained_run / "summary.md").read_text()
    assert f"| Macro F1 | {saved['macro_f1']:.3f} [" in summary
    model, _ = load_for_inference(trained_run)
    profile = json.loads((trained_run / "model_profile.json").read_text())
    assert profile["params"] == count_parameters(model)
    assert profile["macs"] == count_macs(model, 32, 1) > 0
    info = json.loads((trained_run / "plots" / "model_artifacts.json").read_text())
    splits = pd.read_csv(trained_run / "splits.csv")
    assert info["feature_maps"]["image"] in set(splits.loc[splits["split"] == "test", "path"])
    assert set(info["augmented_samples"]["images"]) <= set(splits.loc[splits["split"] == "train", "path"])
    # The best epoch recorded is the one whose validation loss was lowest.
    metrics = pd.read_csv(trained_run / "metrics.csv")
    assert saved["best_epoch"] == int(metrics.loc[metrics["val_loss"].idxmin(), "epoch"])


def test_report_rebuilds_what_a_run_folder_lacks(run_copy: Path, tmp_path: Path) -> None:
    shutil.rmtree(run_copy / "plots")
    (run_copy / "model_profile.json").unlink()
    (run_copy / "report.html").unlink()
    out = tmp_path / "out" / "mine.html"
    result = report(run_copy, out=out)
    assert result.html == out and out.is_file() and not (run_copy / "report.html").exists()
    assert not result.figures.skipped
    for name in PLOTS:
        assert (run_copy / "plots" / f"{name}.png").is_file(), name
    assert (run_copy / "model_profile.json").is_file()
    assert result.summary == run_copy / "summary.md"


def _remove_error_panel(run: Path) -> None:
    (run / "plots" / "error_cams.png").unlink(missing_ok=True)
    info_path = run / "plots" / "model_artifacts.json"
    info = json.loads(info_path.read_text())
    info.pop("error_cams", None)
    info_path.write_text(json.dumps(info))


def test_report_shows_gradcam_of_the_most_confident_errors(run_copy: Path) -> None:
    predictions = run_copy / "predictions_test.csv"
    table = pd.read_csv(predictions)
    classes = sorted(table["label"].unique())
    # Exactly two errors, of known confidence: every other row is made correct.
    table["label"] = table["prediction"]
    order = table["confidence"].sort_values(ascending=False).index
    low, high = order[len(order) // 2], order[0]
    for i in (low, high):
        table.loc[i, "label"] = next(c for c in classes if c != table.loc[i, "prediction"])
    table.to_csv(predictions, index=False)
    _remove_error_panel(run_copy)
    html = report(run_copy).html.read_text()
    panel = run_copy / "plots" / "error_cams.png"
    assert panel.is_file()
    record = json.loads((run_copy / "plots" / "model_artifacts.json").read_text())["error_cams"]
    # The most confident error first; explain's default method at its default layer for this model.
    assert record["images"] == [table.loc[high, "path"], table.loc[low, "path"]]
    model, meta = load_for_inference(run_copy)
    plan = plan_explanation(model, meta, default_method(model), None, None)
    assert record["method"] == default_method(model) and record["layer"] == plan.layer_name
    assert "Most confident errors: where the model looked" in html and f"at layer {plan.layer_name}" in html
    with Image.open(panel) as picture:
        # One row per error: the image beside the map of the predicted class, then beside that of the true class.
        assert picture.width > 300 and picture.height > 300
    # Without errors there is no panel, and the report says why.
    table["label"] = table["prediction"]
    table.to_csv(predictions, index=False)
    _remove_error_panel(run_copy)
    html = report(run_copy).html.read_text()
    assert not panel.exists() and "No class-activation panel of the errors: no test errors." in html


def test_report_shows_the_faithfulness_explain_measured(run_copy: Path) -> None:
    html = report(run_copy).html.read_text()
    assert "No faithfulness measured" in html and 'id="faithfulness"' not in html
    test_files = pd.read_csv(run_copy / "predictions_test.csv")["path"].tolist()[:3]
    index = explain(run_copy, test_files, faithfulness=True)  # into RUN_DIR/explanations/<default method>/
    method = default_method(load_for_inference(run_copy)[0])
    assert (run_copy / "explanations" / method / "explanations.csv").is_file()
    html = report(run_copy).html.read_text()
    table = html[html.index('id="faithfulness"') :]
    table = table[: table.index("</table>")]
    assert f"explanations/{method}" in table and ">3<" in table
    assert f"{index['deletion_auc'].mean():.3f}" in table and f"{index['insertion_auc'].mean():.3f}" in table
    assert "No faithfulness measured" not in html


def test_all_epochs_table_matches_single_epoch_evaluations(run_copy: Path) -> None:
    table = evaluate_epochs(run_copy)
    assert table["epoch"].tolist() == [1, 2, 3]
    for epoch in (1, 3):
        single = evaluate(run_copy, epoch=epoch, bootstrap=0)
        row = table.set_index("epoch").loc[epoch]
        assert row["accuracy"] == pytest.approx(single["accuracy"])
        assert row["macro_f1"] == pytest.approx(single["macro_f1"])
        assert row["sensitivity_tumor"] == pytest.approx(single["per_class"]["tumor"]["sensitivity"])
    best = table.loc[table["macro_f1"].idxmax(), "epoch"]
    assert table.loc[table["best_f1"], "epoch"].tolist() == [best]
    saved = pd.read_csv(run_copy / "epoch_metrics.csv")
    assert saved["macro_f1"].to_numpy() == pytest.approx(table["macro_f1"].to_numpy(), abs=1e-6)
    html = report(run_copy).html.read_text()
    assert 'id="epoch-metrics"' in html


def test_augmented_views_denormalise_back_to_the_pixels(trained_run: Path) -> None:
    _, meta = load_for_inference(trained_run)
    path = pd.read_csv(trained_run / "splits.csv")["path"].iloc[0]
    pixels = load_preprocessed(path, meta.preprocess.settings).astype(float) / 255
    plain = TrainTransform(build_config({"augment": {"preset": "none"}}).augment, 32, **_stats(meta))
    (view,) = augmented_views([path], meta, plain, seed=0)
    assert view.shape == pixels.shape
    np.testing.assert_allclose(view, pixels, atol=1e-5)  # no augmentation: the image itself
    strong = TrainTransform(build_config({"augment": {"preset": "strong"}}).augment, 32, **_stats(meta))
    first, again = augmented_views([path], meta, strong, 7), augmented_views([path], meta, strong, 7)
    np.testing.assert_array_equal(first[0], again[0])  # seeded
    assert np.abs(first[0] - pixels).mean() > 0.01  # and really augmented
    assert first[0].min() >= 0.0 and first[0].max() <= 1.0
    # With originals: each image first as it is (the evaluation transform), then augmented.
    original, augmented = augmented_views([path], meta, strong, 7, originals=True)
    np.testing.assert_allclose(original, pixels, atol=1e-5)
    np.testing.assert_array_equal(augmented, first[0])


def _stats(meta) -> dict:
    return {"mean": meta.preprocess.mean, "std": meta.preprocess.std}


def test_feature_maps_show_every_stage_of_the_model(trained_run: Path) -> None:
    model, _ = load_for_inference(trained_run)
    info = json.loads((trained_run / "plots" / "model_artifacts.json").read_text())
    assert info["feature_maps"]["layers"] == stage_layers(model)  # both blocks of the fast CNN
    with Image.open(trained_run / "plots" / "feature_maps.png") as figure:
        assert figure.height > 2 * 100  # one row per layer
