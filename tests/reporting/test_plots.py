"""Every plot writes a readable PNG; long names and degenerate inputs neither crash nor mislead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medclass.reporting import plots

LONG = [
    "glioma (WHO grade IV, contrast-enhanced)",
    "meningioma",
    "no tumour found on T1",
    "pituitary adenoma",
]


def _check_png(path: Path, min_side: int = 200) -> tuple[int, int]:
    assert path.is_file() and path.stat().st_size > 5000
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert width > min_side and height > min_side
    return width, height


def _scores(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.5
    return y, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def _epochs(n: int = 12) -> pd.DataFrame:
    epoch = np.arange(n)
    return pd.DataFrame(
        {
            "epoch": epoch,
            "train_loss": 1.0 / (epoch + 1),
            "val_loss": 1.0 / (epoch + 1) + 0.02 * epoch,
            "train_accuracy": 1 - 0.5 / (epoch + 1),
            "val_accuracy": 0.9 - 0.4 / (epoch + 1),
            "lr": 1e-3,
        }
    )


def test_learning_curves(tmp_path: Path) -> None:
    width, _ = _check_png(plots.plot_learning_curves(_epochs(), tmp_path / "curves.png", best_epoch=5))
    assert width > 600  # two panels side by side


def test_learning_curves_with_gaps_and_missing_columns(tmp_path: Path) -> None:
    # Lightning writes train and val metrics on separate rows; accuracy may not be logged at all.
    table = pd.DataFrame(
        {
            "epoch": [0, 0, 1, 1],
            "train_loss": [1.0, np.nan, 0.8, np.nan],
            "val_loss": [np.nan, 1.1, np.nan, 0.9],
        }
    )
    _check_png(plots.plot_learning_curves(table, tmp_path / "gaps.png"))
    _check_png(plots.plot_learning_curves(_epochs(1), tmp_path / "one_epoch.png", best_epoch=0))
    with pytest.raises(ValueError, match="epoch"):
        plots.plot_learning_curves(pd.DataFrame({"loss": [1.0]}), tmp_path / "bad.png")
    with pytest.raises(ValueError, match="train_loss"):
        plots.plot_learning_curves(pd.DataFrame({"epoch": [0], "lr": [0.1]}), tmp_path / "bad.png")


@pytest.mark.parametrize("normalize", [False, True])
def test_confusion_matrix_long_names(tmp_path: Path, normalize: bool) -> None:
    cm = np.array([[50, 3, 1, 0], [4, 40, 2, 1], [0, 0, 60, 0], [2, 1, 0, 45]])
    _check_png(plots.plot_confusion_matrix(cm, LONG, tmp_path / "cm.png", normalize=normalize))


def test_confusion_matrix_fifteen_classes_and_degenerate(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 5, (15, 15)) + np.diag(rng.integers(20, 40, 15))
    cm[3] = 0  # a class without test images: its normalised row stays 0
    _check_png(
        plots.plot_confusion_matrix(cm, [f"class {i}" for i in range(15)], tmp_path / "cm15.png", True)
    )
    _check_png(plots.plot_confusion_matrix([[7]], ["only"], tmp_path / "cm1.png"))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        plots.plot_confusion_matrix(np.ones((2, 3)), ["a", "b"], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="3 names"):
        plots.plot_confusion_matrix(np.ones((2, 2)), ["a", "b", "c"], tmp_path / "bad.png")


@pytest.mark.parametrize("plot", [plots.plot_roc_curves, plots.plot_pr_curves])
@pytest.mark.parametrize("k", [2, 4, 15])
def test_roc_and_pr_curves(tmp_path: Path, plot, k: int) -> None:
    y, probs = _scores(300, k)
    classes = ["normal", "tumor"] if k == 2 else LONG if k == 4 else [f"class {i}" for i in range(k)]
    _check_png(plot(y, probs, classes, tmp_path / "curve.png"))


@pytest.mark.parametrize("plot", [plots.plot_roc_curves, plots.plot_pr_curves])
def test_roc_and_pr_degenerate(tmp_path: Path, plot) -> None:
    y, probs = _scores(40, 3)
    y[y == 2] = 0  # class 2 absent: listed in the legend, no curve
    _check_png(plot(y, probs, ["a", "b", "c"], tmp_path / "absent.png"))
    with pytest.raises(ValueError, match=r"single class|absent"):
        plot(np.zeros(10, int), np.full((10, 2), 0.5), ["normal", "tumor"], tmp_path / "one_class.png")
    with pytest.raises(ValueError, match=r"\(9,\)"):
        plot(np.zeros(9, int), np.full((10, 2), 0.5), ["normal", "tumor"], tmp_path / "bad.png")


def test_reliability_diagram(tmp_path: Path) -> None:
    y, probs = _scores(500, 4)
    _check_png(plots.plot_reliability_diagram(y, probs, tmp_path / "rel.png"))
    _check_png(plots.plot_reliability_diagram([0], [[1.0, 0.0]], tmp_path / "single.png", n_bins=5))
    with pytest.raises(ValueError, match="probabilities"):
        plots.plot_reliability_diagram(y, probs * 5, tmp_path / "bad.png")


def test_class_distribution(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {"label": np.repeat(LONG, 30), "split": np.tile(["train"] * 20 + ["val"] * 5 + ["test"] * 5, 4)}
    )
    _check_png(plots.plot_class_distribution(table, tmp_path / "dist.png"))
    with pytest.raises(ValueError, match="split"):
        plots.plot_class_distribution(table[["label"]], tmp_path / "bad.png")


def test_image_grid(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, (64, 64), dtype=np.uint8),
        rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
        rng.random((32, 32, 1)),
        rng.normal(size=(40, 40)),  # not in [0, 1]: min-max scaled for display
        np.zeros((20, 20)),  # constant
        rng.random((30, 30, 4)),
        rng.integers(0, 4096, (50, 50)).astype(np.uint16),
    ]
    titles = ["a very long title that has to be wrapped over lines", *[f"img {i}" for i in range(6)]]
    _check_png(plots.plot_image_grid(images, titles, tmp_path / "grid.png", ncols=4, title="Samples"))
    _check_png(plots.plot_image_grid(images[:1], ["one"], tmp_path / "one.png", title_colors=["red"]), 150)
    with pytest.raises(ValueError, match="titles"):
        plots.plot_image_grid(images, ["x"], tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"\(3, 8, 8\)"):
        plots.plot_image_grid([np.zeros((3, 8, 8))], ["x"], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="empty"):
        plots.plot_image_grid([], [], tmp_path / "bad.png")


def test_prediction_grid_puts_confident_errors_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medclass.reporting import plots_images

    seen: dict = {}
    original = plots_images._grid

    def spy(images, titles, path, ncols, title, colors):
        seen.update(titles=titles, colors=colors)
        return original(images, titles, path, ncols, title, colors)

    monkeypatch.setattr(plots_images, "_grid", spy)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (64, 64), dtype=np.uint8) for _ in range(30)]
    true = ["glioma"] * 15 + ["pituitary"] * 15
    pred = ["glioma"] * 12 + ["pituitary"] * 3 + ["pituitary"] * 15
    conf = np.linspace(0.5, 0.99, 30)
    _check_png(plots.plot_prediction_grid(images, true, pred, conf, tmp_path / "pred.png", max_images=12))
    assert len(seen["titles"]) == 12
    # Errors are images 12, 13, 14 (confidence rising): most confident first, all red.
    assert seen["titles"][:3] == [f"glioma / pituitary ({conf[i]:.2f})" for i in (14, 13, 12)]
    assert seen["colors"][:3] == ["tab:red"] * 3 and set(seen["colors"][3:]) == {"black"}
    assert seen["titles"][3] == f"pituitary / pituitary ({conf[29]:.2f})"
    with pytest.raises(ValueError, match="same length"):
        plots.plot_prediction_grid(images, true[:3], pred, conf, tmp_path / "bad.png")


def test_feature_maps(tmp_path: Path) -> None:
    import torch

    rng = np.random.default_rng(0)
    maps = {
        "layer1": rng.random((32, 28, 28)),
        "layer2.0.conv2 (a long layer name)": torch.rand(1, 8, 14, 14),
        "layer4": rng.random((3, 7, 7)),
    }
    _check_png(plots.plot_feature_maps(maps, tmp_path / "maps.png", max_channels=16))
    with pytest.raises(ValueError, match=r"\(2, 3, 4, 5\)"):
        plots.plot_feature_maps({"bad": np.zeros((2, 3, 4, 5))}, tmp_path / "bad.png")


def test_metric_bars_long_and_wide_forms(tmp_path: Path) -> None:
    long = pd.DataFrame(
        {
            "variant": ["resnet18", "resnet18", "efficientnet_b0 pretrained", "efficientnet_b0 pretrained"],
            "metric": ["auroc", "accuracy", "auroc", "accuracy"],
            "value": [0.91, 0.85, 0.95, 0.9],
            "ci_low": [0.88, 0.8, 0.93, 0.86],
            "ci_high": [0.94, 0.89, 0.97, 0.93],
        }
    )
    _check_png(plots.plot_metric_bars(long, "auroc", tmp_path / "bars.png"))
    wide = pd.DataFrame({"variant": ["a", "b", "c"], "macro_f1": [0.7, 0.8, np.nan]})
    _check_png(plots.plot_metric_bars(wide, "macro_f1", tmp_path / "wide.png"))
    with pytest.raises(ValueError, match="f1"):
        plots.plot_metric_bars(long, "f1", tmp_path / "bad.png")


def test_overlaid_curves(tmp_path: Path) -> None:
    curves = {"lr=1e-3": _epochs(10), "lr=1e-4": _epochs(15), "no val": _epochs(5).drop(columns="val_loss")}
    _check_png(plots.plot_overlaid_curves(curves, "val_loss", tmp_path / "overlay.png"))
    with pytest.raises(ValueError, match="nope"):
        plots.plot_overlaid_curves(curves, "nope", tmp_path / "bad.png")


def test_no_pyplot_figures_leak(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plots.plot_confusion_matrix(np.eye(2) * 3, ["a", "b"], tmp_path / "cm.png")
    assert plt.get_fignums() == before


def test_count_axes_have_whole_number_ticks(tmp_path, monkeypatch):
    import numpy as np

    from medclass.reporting import plots_eval

    captured = {}

    def keep(fig, path):
        captured["fig"] = fig
        return path

    monkeypatch.setattr(plots_eval, "save_figure", keep)
    y = np.array([0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.35, 0.65], [0.2, 0.8]])
    plots_eval.plot_reliability_diagram(y, probs, tmp_path / "r.png")
    counts_axis = captured["fig"].axes[-1]
    ticks = [
        t for t in counts_axis.get_yticks() if counts_axis.get_ylim()[0] <= t <= counts_axis.get_ylim()[1]
    ]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_prediction_tiles_carry_their_file_names(tmp_path, monkeypatch):
    import numpy as np

    from medclass.reporting import plots_images

    captured = {}
    monkeypatch.setattr(plots_images, "save_figure", lambda fig, path: captured.setdefault("fig", fig))
    images = [np.zeros((8, 8), dtype=np.uint8)] * 3
    plots_images.plot_prediction_grid(
        images,
        ["a", "b", "a"],
        ["a", "a", "a"],
        [0.9, 0.8, 0.7],
        tmp_path / "p.png",
        names=["p01_s1.png", "p02_s1.png", "p03_s1.png"],
    )
    titles = [ax.get_title() for ax in captured["fig"].axes if ax.get_title()]
    # The error (p02) comes first, each title starts with the file name.
    assert titles[0].splitlines() == ["p02_s1.png", "b / a (0.80)"]
    assert {t.splitlines()[0] for t in titles} == {"p01_s1.png", "p02_s1.png", "p03_s1.png"}


# --- What is drawn: the figures are checked before they are saved ---------------------------------------


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list:
    """The figures the plot functions save, in order (they are still written to their files)."""
    from medclass.reporting import plots_campaigns, plots_eval, plots_images, plots_training

    figures: list = []
    for module in (plots_campaigns, plots_eval, plots_images, plots_training):

        def keep(fig, path, original=module.save_figure):
            figures.append(fig)
            return original(fig, path)

        monkeypatch.setattr(module, "save_figure", keep)
    return figures


def _lines(ax) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Label -> (x, y) of every line of ``ax`` with a legend label."""
    return {
        line.get_label(): (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
        for line in ax.get_lines()
        if not line.get_label().startswith("_")
    }


def _bar_heights(ax) -> list[float]:
    return [patch.get_height() for patch in ax.patches]


def test_learning_curves_draw_the_table(tmp_path: Path, drawn: list) -> None:
    table = _epochs(6)
    plots.plot_learning_curves(table, tmp_path / "curves.png", best_epoch=3)
    (fig,) = drawn
    loss, accuracy = fig.axes
    assert (loss.get_title(), loss.get_xlabel(), loss.get_ylabel()) == ("Loss", "epoch", "loss")
    assert (accuracy.get_title(), accuracy.get_ylabel()) == ("Accuracy", "accuracy")
    for ax, column in ((loss, "loss"), (accuracy, "accuracy")):
        lines = _lines(ax)
        assert set(lines) == {"train", "validation", "best epoch (3)"}
        for label, prefix in (("train", "train"), ("validation", "val")):
            x, y = lines[label]
            np.testing.assert_array_equal(x, table["epoch"])
            np.testing.assert_allclose(y, table[f"{prefix}_{column}"])
        assert set(lines["best epoch (3)"][0]) == {3.0}  # a vertical line at the best epoch


def test_confusion_matrix_cells_hold_the_counts(tmp_path: Path, drawn: list) -> None:
    cm = np.array([[50, 3, 1, 0], [4, 40, 2, 1], [0, 0, 60, 0], [2, 1, 0, 45]])
    plots.plot_confusion_matrix(cm, LONG, tmp_path / "cm.png")
    plots.plot_confusion_matrix(cm, LONG, tmp_path / "norm.png", normalize=True)
    counts_ax, normalised_ax = drawn[0].axes[0], drawn[1].axes[0]
    assert [t.get_text() for t in counts_ax.texts] == [str(v) for v in cm.ravel()]
    # Row-normalised: the fraction of the true class, with the count under it; empty cells a bare 0.
    row = cm / cm.sum(axis=1, keepdims=True)
    expected = [f"{row[i, j]:.2f}\n({cm[i, j]})" if cm[i, j] else "0" for i in range(4) for j in range(4)]
    assert [t.get_text() for t in normalised_ax.texts] == expected
    assert (counts_ax.get_xlabel(), counts_ax.get_ylabel()) == ("predicted class", "true class")
    supports = [label.get_text().splitlines()[-1] for label in counts_ax.get_yticklabels()]
    assert supports == [f"(n={n})" for n in cm.sum(axis=1)]
    assert f"accuracy {np.trace(cm) / cm.sum():.3f}" in counts_ax.get_title()


@pytest.mark.parametrize("k", [2, 4])
def test_roc_and_pr_curves_show_each_class_and_its_area(tmp_path: Path, drawn: list, k: int) -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, probs = _scores(300, k)
    classes = ["normal", "tumor"] if k == 2 else [f"class {i}" for i in range(k)]
    plots.plot_roc_curves(y, probs, classes, tmp_path / "roc.png")
    plots.plot_pr_curves(y, probs, classes, tmp_path / "pr.png")
    roc, pr = (fig.axes[0] for fig in drawn)
    positives = [1] if k == 2 else list(range(k))  # binary: the positive class only
    roc_lines, pr_lines = _lines(roc), _lines(pr)
    assert len(roc_lines) == len(positives) + 1 and "chance" in roc_lines
    for j in positives:
        auc = roc_auc_score(y == j, probs[:, j])
        fpr, tpr = roc_lines[f"{classes[j]} (AUC = {auc:.3f})"]
        assert np.trapezoid(tpr, fpr) == pytest.approx(auc)  # the curve is the one whose area is shown
        ap = average_precision_score(y == j, probs[:, j])
        assert f"{classes[j]} (AP = {ap:.3f})" in pr_lines
    assert roc.get_xlabel() == "false positive rate (1 - specificity)"
    assert pr.get_ylabel() == "precision (positive predictive value)"
    if k == 2:
        assert f"chance (prevalence {np.mean(y == 1):.2f})" in pr_lines


def test_reliability_bars_are_the_accuracy_per_bin(tmp_path: Path, drawn: list) -> None:
    # Four images at confidence 0.9 of which 2 right, two at 0.6 both right (5 bins: 0.8-1.0 and 0.4-0.6).
    probs = np.array([[0.9, 0.1]] * 4 + [[0.4, 0.6]] * 2)
    y = np.array([0, 0, 1, 1, 1, 1])
    plots.plot_reliability_diagram(y, probs, tmp_path / "rel.png", n_bins=5)
    top, bottom = drawn[0].axes
    accuracy_bars = [p for p in top.patches if p.get_facecolor()[3] > 0]
    centres = sorted((round(p.get_x() + p.get_width() / 2, 6), p.get_height()) for p in accuracy_bars)
    assert centres == [(0.5, pytest.approx(1.0)), (0.9, pytest.approx(0.5))]
    assert _bar_heights(bottom) == [0, 0, 2, 0, 4]
    # ECE: (2 * |0.6 - 1| + 4 * |0.9 - 0.5|) / 6 = 0.4
    assert "ECE = 0.400" in top.get_title() and "6 images" in top.get_title()


def test_class_distribution_bars_are_the_counts(tmp_path: Path, drawn: list) -> None:
    table = pd.DataFrame(
        {"label": ["a"] * 7 + ["b"] * 3, "split": ["train"] * 5 + ["test"] * 2 + ["train", "val", "test"]}
    )
    plots.plot_class_distribution(table, tmp_path / "dist.png")
    ax = drawn[0].axes[0]
    # Bars per split in train, val, test order; within a split one bar per class (a, b).
    assert _bar_heights(ax) == [5, 1, 0, 1, 2, 1]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["train (6)", "val (1)", "test (3)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]


def test_metric_bars_show_values_and_intervals(tmp_path: Path, drawn: list) -> None:
    long = pd.DataFrame(
        {
            "variant": ["resnet18", "resnet18", "effnet", "effnet"],
            "metric": ["auroc", "accuracy", "auroc", "accuracy"],
            "value": [0.91, 0.85, 0.95, 0.9],
            "ci_low": [0.88, 0.8, 0.93, 0.86],
            "ci_high": [0.94, 0.89, 0.97, 0.93],
        }
    )
    plots.plot_metric_bars(long, "auroc", tmp_path / "bars.png")
    ax = drawn[0].axes[0]
    assert _bar_heights(ax) == pytest.approx([0.91, 0.95])
    assert [t.get_text() for t in ax.texts] == ["0.910", "0.950"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["resnet18", "effnet"]
    assert ax.get_ylabel() == "auroc" and "error bars: CI" in ax.get_title()
    (segments,) = [c.get_segments() for c in ax.collections]
    assert [tuple(np.round(s[:, 1], 6)) for s in segments] == [(0.88, 0.94), (0.93, 0.97)]


def test_overlaid_curves_one_line_per_run(tmp_path: Path, drawn: list) -> None:
    curves = {"lr=1e-3": _epochs(10), "lr=1e-4": _epochs(15), "no val": _epochs(5).drop(columns="val_loss")}
    plots.plot_overlaid_curves(curves, "val_loss", tmp_path / "overlay.png")
    lines = _lines(drawn[0].axes[0])
    assert set(lines) == {"lr=1e-3", "lr=1e-4", "no val (no data)"}
    np.testing.assert_allclose(lines["lr=1e-4"][1], _epochs(15)["val_loss"])
    assert lines["lr=1e-3"][0].size == 10 and lines["no val (no data)"][0].size == 0


def test_image_grid_shows_every_image_with_its_title(tmp_path: Path, drawn: list) -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (16, 16), dtype=np.uint8) for _ in range(5)]
    plots.plot_image_grid(images, [f"img {i}" for i in range(5)], tmp_path / "grid.png", ncols=3)
    shown = [ax for ax in drawn[0].axes if ax.images]
    assert [ax.get_title() for ax in shown] == [f"img {i}" for i in range(5)]
    np.testing.assert_array_equal(shown[2].images[0].get_array(), images[2])
