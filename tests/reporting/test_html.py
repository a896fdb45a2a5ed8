"""report.html and summary.md from the files of a run folder (built here without training)."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medclass.config import build_config, save_config
from medclass.evaluation.scoring import decision_blocks, score
from medclass.inference.decision import Decision, decide
from medclass.inference.runner import Predictions
from medclass.reporting.figures import prediction_rows, write_run_figures
from medclass.reporting.run_report import write_report
from medclass.reporting.summary import write_summary
from medclass.reporting.tables import Estimate
from medclass.runs import load_run
from medclass.utils.errors import RunDirError
from medclass.utils.io import write_json

# A class name with characters HTML must escape.
CLASSES = ["benign", "A&B <cyst>"]
THRESHOLD = 0.35


def make_run_folder(root: Path, classes: list[str] = CLASSES, n_test: int = 30, seed: int = 0) -> Path:
    """A finished run folder as ``medclass train`` leaves it (files only): config, splits, data report,
    metrics.csv, test metrics (binary, threshold chosen "on val", bootstrap CIs) and predictions."""
    rng = np.random.default_rng(seed)
    run = root / "run"
    data = root / "data"
    rows = []
    for split, n in (("train", 16), ("val", 8), ("test", n_test)):
        for i in range(n):
            label = i % len(classes)
            path = data / f"c{label}" / f"{split}_{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(path)
            rows.append({"path": str(path), "label": classes[label], "split": split})
    splits = pd.DataFrame(rows)
    run.mkdir(parents=True)
    splits.to_csv(run / "splits.csv", index=False)
    save_config(
        build_config({"data": {"path": str(data), "image_size": 32}, "name": "toy-run"}), run / "config.yaml"
    )
    counts = splits.groupby(["split", "label"]).size()
    write_json(
        run / "data_report.json",
        {
            "data": str(data),
            "layout": "folders",
            "classes": classes,
            "n_images": len(splits),
            "counts": {s: {c: int(n) for c, n in counts[s].items()} for s in ("train", "val", "test")},
            "skipped": [{"path": str(data / "bad<1>.png"), "reason": "truncated PNG"}],
            "ignored": [],
            "duplicates": {
                "near_distance": 6,
                "exact": {
                    "groups": 2,
                    "files": 4,
                    "extra_copies": 2,
                    "label_conflicts": 1,
                    "split_leaks": 0,
                    "by_relation": {"within-class": 1, "across-classes": 1, "across-splits": 0},
                    "list": [],
                },
                "near": {
                    "groups": 1,
                    "files": 3,
                    "extra_copies": 2,
                    "label_conflicts": 0,
                    "split_leaks": 0,
                    "by_relation": {"within-class": 1, "across-classes": 0, "across-splits": 0},
                    "list": [],
                },
            },
            "duplicate_policy": "kept in one split",
        },
    )
    epochs = np.arange(1, 6)
    pd.DataFrame(
        {
            "epoch": epochs,
            "train_loss": 0.7 / epochs,
            "train_accuracy": 1 - 0.4 / epochs,
            "val_loss": [0.6, 0.45, 0.4, 0.42, 0.5],
            "val_accuracy": [0.6, 0.7, 0.8, 0.78, 0.75],
            "val_macro_f1": [0.55, 0.7, 0.79, 0.77, 0.74],
            "val_auroc": [0.7, 0.8, 0.85, 0.86, 0.84],
            "lr": 1e-3,
            "seconds": 2.0,
        }
    ).to_csv(run / "metrics.csv", index=False)
    test = splits[splits["split"] == "test"]
    y = test["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    p1 = np.clip(0.25 + 0.45 * y + rng.normal(0, 0.2, len(y)), 0.01, 0.99)
    probs = np.c_[1 - p1, p1]
    metrics = score(y, probs, classes, THRESHOLD, bootstrap=50, seed=0)
    decision = Decision(threshold=THRESHOLD, rule="youden", n=8, sensitivity=1.0, specificity=0.75)
    metrics.update(decision_blocks(decision), split="test")
    write_json(run / "test_metrics.json", metrics)
    table = Predictions(list(test["path"]), probs, decide(probs, THRESHOLD), {}).table(classes)
    table.insert(1, "label", list(test["label"]))
    table.to_csv(run / "predictions_test.csv", index=False, float_format="%.6f")
    return run


class _Page(HTMLParser):
    """Collects the tags, image sources and table texts of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "table":
            self._table = attributes.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    return make_run_folder(tmp_path)


def test_report_embeds_every_figure_and_makes_no_request(run_folder: Path) -> None:
    figures = write_run_figures(load_run(run_folder))
    assert not figures.skipped, figures.skipped
    expected = {
        "learning_curves",
        "class_distribution",
        "confusion_matrix",
        "confusion_matrix_normalized",
        "roc",
        "pr",
        "reliability",
        "test_predictions",
    }
    assert set(figures.paths) == expected
    page = parse(write_report(run_folder, figures=figures))
    sources = [attrs["src"] for tag, attrs in page.tags if tag == "img"]
    assert len(sources) == len(expected)
    embedded = {base64.b64decode(src.removeprefix("data:image/png;base64,")) for src in sources}
    assert embedded == {path.read_bytes() for path in figures.paths.values()}
    # Offline: no scripts, stylesheets or any other URL.
    assert not [tag for tag, _ in page.tags if tag in ("script", "link", "iframe", "object")]
    urls = [v for _, attrs in page.tags for k, v in attrs.items() if k in ("src", "href") and v]
    assert all(u.startswith(("data:image/png;base64,", "#")) for u in urls), urls


def test_metric_tables_show_the_saved_values_with_their_intervals(run_folder: Path) -> None:
    saved = json.loads((run_folder / "test_metrics.json").read_text())
    page = parse(write_report(run_folder))
    metrics = {row[0]: row[1] for row in page.tables["test-metrics"][1:]}
    ci = saved["ci"]["macro_f1"]
    assert metrics["Macro F1"] == f"{saved['macro_f1']:.3f} [{ci['ci_low']:.3f}, {ci['ci_high']:.3f}]"
    assert metrics["ECE (15 bins)"] == f"{saved['ece']:.3f}"
    per_class = {row[0]: row for row in page.tables["per-class"][1:]}
    assert set(per_class) == set(CLASSES)
    sens = saved["ci"]["per_class"]["benign"]["sensitivity"]
    assert per_class["benign"][2] == Estimate(sens["value"], sens["ci_low"], sens["ci_high"]).text()
    assert per_class["benign"][6] == f"{saved['per_class']['benign']['pr_auc']:.3f}"
    # Binary with a threshold: metrics at 0.5 and at the chosen threshold side by side.
    header, *rows = page.tables["operating-point"]
    assert header[2] == f"at {THRESHOLD:.4f}"
    accuracy = {row[0]: row for row in rows}["Accuracy"]
    assert accuracy[1].startswith(f"{saved['at_0.5']['accuracy']:.3f} [")
    assert accuracy[2].startswith(f"{saved['at_threshold']['accuracy']:.3f} [")
    duplicates = {row[0]: row for row in page.tables["duplicates"][1:]}
    assert duplicates["exact"][1:4] == ["2", "4", "2"]


def test_text_from_files_is_escaped(run_folder: Path) -> None:
    text = write_report(run_folder).read_text()
    assert "A&amp;B &lt;cyst&gt;" in text
    assert "<cyst>" not in text and "bad<1>" not in text
    assert "bad&lt;1&gt;.png" in text  # the skipped file is listed


def test_missing_files_leave_a_report_that_says_why(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path)
    for name in ("predictions_test.csv", "test_metrics.json", "splits.csv"):
        (run / name).unlink()
    figures = write_run_figures(load_run(run))
    assert set(figures.paths) == {"learning_curves"}
    assert "no predictions_test.csv" in figures.skipped["roc"]
    text = write_report(run, tmp_path / "elsewhere" / "r.html", figures).read_text()
    assert "ROC curves not available: no predictions_test.csv in the run folder." in text
    assert "No test_metrics.json" in text
    assert "No test metrics" in write_summary(run).read_text()


def test_summary_markdown_has_the_main_table(run_folder: Path) -> None:
    saved = json.loads((run_folder / "test_metrics.json").read_text())
    text = write_summary(run_folder).read_text()
    ci = saved["ci"]["accuracy"]
    assert f"| Accuracy | {saved['accuracy']:.3f} [{ci['ci_low']:.3f}, {ci['ci_high']:.3f}] |" in text
    assert "| A&B <cyst> | 15 |" in text
    assert "Best checkpoint: epoch 3 by val_loss." in text  # lowest val_loss of metrics.csv


def test_epoch_table_and_referral_curve_appear_when_present(run_folder: Path) -> None:
    pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "accuracy": [0.7, 0.8, 0.75],
            "macro_f1": [0.6, 0.79, 0.8],
            "best_f1": [False, False, True],
        }
    ).to_csv(run_folder / "epoch_metrics.csv", index=False)
    pd.DataFrame({"fraction_referred": [0.0, 0.1, 0.2], "accuracy": [0.8, 0.85, 0.9]}).to_csv(
        run_folder / "referral.csv", index=False
    )
    figures = write_run_figures(load_run(run_folder))
    assert "referral" in figures.paths
    page = parse(write_report(run_folder, figures=figures))
    assert [row[0] for row in page.tables["epoch-metrics"][1:]] == ["1", "2", "3"]
    best_rows = [attrs for tag, attrs in page.tags if tag == "tr" and attrs.get("class") == "best"]
    assert len(best_rows) == 1


# referral.csv as `medclass evaluate --mc-dropout` writes it (referral_curve, "%.6f"), with numbers chosen by hand:
# ten cases, the two most uncertain wrong.
REFERRAL_CSV = """n_referred,fraction_referred,n_kept,accuracy,uncertainty_cutoff
0,0.000000,10,0.800000,
1,0.100000,9,0.888889,0.900000
2,0.200000,8,1.000000,0.800000
3,0.300000,7,1.000000,0.400000
"""


def test_referral_numbers_reach_the_report(run_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from medclass.evaluation.uncertainty import referral_curve, referral_point
    from medclass.reporting import figures as run_figures

    correct = np.array([1, 1, 0, 1, 0, 1, 1, 1, 1, 1], dtype=bool)
    uncertainty = np.array([0.1, 0.2, 0.9, 0.3, 0.8, 0.05, 0.15, 0.25, 0.35, 0.4])
    curve = referral_curve(correct, uncertainty)
    written = io.StringIO()
    curve.head(4).to_csv(written, index=False, float_format="%.6f")
    assert written.getvalue() == REFERRAL_CSV  # the file below is in the writer's own format
    (run_folder / "referral.csv").write_text(REFERRAL_CSV)
    points = [referral_point(curve, f) for f in (0.0, 0.1, 0.2)]
    saved = json.loads((run_folder / "test_metrics.json").read_text())
    write_json(
        run_folder / "test_metrics.json", {**saved, "referral": {"passes": 8, "n": 10, "points": points}}
    )

    drawn = {}

    def keep(fig, path, original=run_figures.save_figure):
        drawn[Path(path).stem] = fig
        return original(fig, path)

    monkeypatch.setattr(run_figures, "save_figure", keep)
    figures = write_run_figures(load_run(run_folder))
    (line,) = drawn[figures.paths["referral"].stem].axes[0].get_lines()
    np.testing.assert_allclose(line.get_xdata(), [0, 10, 20, 30])
    np.testing.assert_allclose(line.get_ydata(), [0.8, 0.888889, 1.0, 1.0])
    text = write_report(run_folder, figures=figures).read_text()
    page = parse(run_folder / "report.html")
    embedded = [
        base64.b64decode(attrs["src"].removeprefix("data:image/png;base64,"))
        for tag, attrs in page.tags
        if tag == "img"
    ]
    assert figures.paths["referral"].read_bytes() in embedded
    block = text[text.index("Referral (MC dropout)") :]
    block = block[: block.index("</pre>")]
    # Accuracy 0.8 with nothing referred, 8/9 at 10%, 1.0 at 20%: each point as evaluate saved it.
    assert [p["accuracy"] for p in points] == pytest.approx([0.8, 8 / 9, 1.0])
    for point in points:
        assert f"fraction: {point['fraction']}" in block
        assert f"accuracy: {point['accuracy']}" in block
        assert f"n_kept: {point['n_kept']}" in block


def test_prediction_grid_rows_put_confident_errors_first() -> None:
    table = pd.DataFrame(
        {
            "path": list("abcde"),
            "label": ["x", "x", "y", "y", "x"],
            "prediction": ["x", "y", "x", "y", "y"],
            "confidence": [0.99, 0.6, 0.9, 0.7, 0.8],
        }
    )
    assert list(prediction_rows(table)["path"]) == ["c", "e", "b", "a", "d"]


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="no config.yaml"):
        write_report(tmp_path)


def test_report_opens_with_the_clinical_summary_of_the_positive_class(run_folder: Path) -> None:
    saved = json.loads((run_folder / "test_metrics.json").read_text())
    rng = np.random.default_rng(5)
    y = np.array([0] * 15 + [1] * 15)
    p1 = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, 30), 0, 1)
    probs = np.stack([1 - p1, p1], axis=1)
    points = {"rule": "youden", "chosen_on": "val", "positive_class": "benign", "threshold": 0.6}
    metrics = score(y, probs, CLASSES, None, 50, 0, positive_class="benign", operating_points=points)
    write_json(run_folder / "test_metrics.json", {**saved, **metrics})
    text = write_report(run_folder).read_text()
    page = parse(run_folder / "report.html")
    assert text.index("Clinical summary</h2>") < text.index("id='data'")
    header, *rows = page.tables["clinical-table"]
    assert header[1] == "argmax" and "youden" in header[2]
    by_label = {row[0]: row for row in rows}
    sens = metrics["clinical"]["sensitivity"]
    assert by_label["Sensitivity"][1] == Estimate(sens["value"], sens["ci_low"], sens["ci_high"]).text()
    npv = metrics["operating_points"]["clinical"]["npv"]
    assert by_label["NPV"][2] == Estimate(npv["value"], npv["ci_low"], npv["ci_high"]).text()
    assert "Positive class: <strong>benign</strong>" in text
    # Two classes: the per-class table shows the positive class once instead of two mirrored rows.
    assert [row[0] for row in page.tables["per-class"][1:]] == ["benign"]
