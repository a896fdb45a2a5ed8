"""`medclass train` on a multi-label set with known label-generating rules (a disc, a hollow square and a bar,
each switching its label on): per-label AUROC >= 0.95 from the CLI, the multi-label test_metrics.json, the
per-label thresholds chosen on val in the checkpoint, and the per-label columns of predictions_test.csv."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from medclass.cli.app import run_app
from medclass.data.multilabel import label_matrix
from medclass.data.synthetic import SHAPE_LABELS, make_shapes_multilabel
from medclass.inference.decision import LabelRule, MultilabelDecision
from medclass.training.checkpoint import store_label_rules

FAST = [
    "--model", "cnn", "--image-size", "32", "--epochs", "2", "--batch-size", "8", "--lr", "0.005", "--seed", "0",
    "--set", "model.cnn.blocks=[{out_channels: 8}, {out_channels: 16}]", "--set", "model.cnn.dense=[]",
    "--set", "model.cnn.head=flatten", "--set", "augment.preset=none", "--set", "data.num_workers=0",
    "--set", "trainer.progress_bar=false", "--set", "evaluation.report=false", "--set", "evaluation.bootstrap=50",
]  # fmt: skip


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("multilabel")
    manifest = make_shapes_multilabel(root / "shapes", n=160, size=32, seed=1)
    out = root / "run"
    assert run_app(["train", "--data", str(manifest), "--out", str(out), *FAST]) == 0
    return out


def test_every_label_is_learned_to_auroc_095(shapes_run: Path) -> None:
    # Against the manifest the images were drawn from (not the pipeline's own reading of it).
    manifest = pd.read_csv(shapes_run.parent / "shapes" / "labels.csv", keep_default_na=False)
    truth = {
        str(shapes_run.parent / "shapes" / p): set(filter(None, t.split("|"))) for p, t in manifest.values
    }
    predictions = pd.read_csv(shapes_run / "predictions_test.csv", keep_default_na=False)
    assert len(predictions) >= 24
    for name in SHAPE_LABELS:
        present = [name in truth[p] for p in predictions["path"]]
        assert roc_auc_score(present, predictions[f"p_{name}"]) >= 0.95, name
    metrics = json.loads((shapes_run / "test_metrics.json").read_text())
    assert metrics["task"] == "multilabel" and metrics["labels"] == sorted(SHAPE_LABELS)
    for name in SHAPE_LABELS:
        block = metrics["per_label"][name]
        assert block["auroc"]["value"] >= 0.95, (name, block)
        for figure in ("auroc", "average_precision", "sensitivity", "specificity"):
            assert set(block[figure]) == {"value", "ci_low", "ci_high"}
            assert block[figure]["ci_low"] <= block[figure]["value"] <= block[figure]["ci_high"]
        assert 0 < block["threshold"] < 1
    for key in ("macro_auroc", "micro_auroc", "map"):
        assert metrics[key]["value"] >= 0.95 and metrics[key]["ci_low"] is not None
    assert metrics["ci"]["n_resamples"] == 50 and metrics["split"] == "test"


def test_the_thresholds_chosen_on_val_are_in_the_checkpoint_and_decide_the_predictions(
    shapes_run: Path,
) -> None:
    metrics = json.loads((shapes_run / "test_metrics.json").read_text())
    spec = torch.load(shapes_run / "checkpoints" / "best.ckpt", weights_only=False)["medclass"]
    rules = spec["multilabel"]["rules"]
    assert list(rules) == metrics["labels"]
    assert spec["decision"]["threshold"] is None and spec["decision"]["positive_class"] is None
    for name, rule in rules.items():
        assert rule["rule"] == "youden" and rule["chosen_on"] == "val"
        assert rule["threshold"] == metrics["per_label"][name]["threshold"]

    table = pd.read_csv(shapes_run / "predictions_test.csv", keep_default_na=False)
    labels = metrics["labels"]
    assert list(table.columns) == ["path", "label", "prediction", *(f"p_{n}" for n in labels), *labels]
    assert len(table) == metrics["n"]
    for name in labels:  # each decision column is its probability at its own threshold
        decided = table[f"p_{name}"] >= rules[name]["threshold"] - 1e-6  # the CSV rounds to 6 decimals
        assert (table[name] == decided.astype(int)).all()
    truth = label_matrix(list(table["label"]), labels)
    sensitivity = [(table[n][truth[:, j] == 1] == 1).mean() for j, n in enumerate(labels)]
    assert np.allclose(sensitivity, [metrics["per_label"][n]["sensitivity"]["value"] for n in labels])


def test_predict_export_and_serve_agree_on_every_label(shapes_run: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from medclass.api import predict
    from medclass.api.export import export
    from medclass.api.serve import build_app
    from medclass.inference.runner import Predictor

    table = pd.read_csv(shapes_run / "predictions_test.csv", keep_default_na=False)
    files = list(table["path"][:8])
    labels = sorted(SHAPE_LABELS)
    assert list(predict(shapes_run, files)["prediction"]) == list(
        table["prediction"][:8]
    )  # as the test scoring

    # A copy of the run whose thresholds are the median probabilities of these images: every label then has
    # images on both sides, so a path that ignored the stored thresholds (0.5, or another label's) would differ.
    run = tmp_path / "run"
    shutil.copytree(shapes_run, run)
    medians = {n: float(np.median(table[f"p_{n}"][:8])) for n in labels}
    rules = MultilabelDecision({n: LabelRule(medians[n], "median") for n in labels})
    store_label_rules(run / "checkpoints" / "best.ckpt", rules)
    expected = predict(run, files)
    for name in labels:
        assert 0 < expected[name].sum() < len(files)

    bundle = Path(export(run, "onnx", out=tmp_path / "bundle")["path"])
    info = json.loads((bundle / "medclass.json").read_text())
    assert info["task"] == "multilabel" and list(info["labels"]) == labels
    assert all(info["labels"][n]["threshold"] == medians[n] for n in labels)
    assert info["check"]["agreement"] == 1.0 and info["check"]["max_abs_diff"] < 1e-4
    exported = Predictor.load(bundle).predict_files(files)
    assert exported.predicted.tolist() == expected[labels].astype(bool).to_numpy().tolist()

    uploads = [("file", (Path(p).name, Path(p).read_bytes(), "image/png")) for p in files]
    with TestClient(build_app(bundle)) as client:
        body = client.post("/v1/predict", files=uploads).json()
        model = client.get("/v1/model").json()
        outputs = client.get("/v2/models/bundle").json()["outputs"]
    for result, (_, row) in zip(body["results"], expected.iterrows(), strict=True):
        assert set(result["labels"]) == set(labels) and result["prediction"] == row["prediction"]
        for name in labels:
            assert result["labels"][name]["positive"] == bool(row[name])
            assert abs(result["labels"][name]["probability"] - row[f"p_{name}"]) < 1e-5
    assert model["classes"] == labels
    assert [o["shape"] for o in outputs] == [[-1, 3], [-1, 3]]  # OIP: a probability and a 0/1 per label


def test_evaluate_scores_the_run_and_another_labelled_set(shapes_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "again.json"
    assert run_app(["evaluate", str(shapes_run), "--out", str(out), "--bootstrap", "50"]) == 0
    again, trained = json.loads(out.read_text()), json.loads((shapes_run / "test_metrics.json").read_text())
    assert again["per_label"] == trained["per_label"] and again["macro_auroc"] == trained["macro_auroc"]
    # A new set in the other manifest layout (one 0/1 column per label), read with the model's own labels.
    other = make_shapes_multilabel(tmp_path / "other", n=40, size=32, seed=9, layout="columns")
    out = tmp_path / "other.json"
    assert (
        run_app(["evaluate", str(shapes_run), "--data", str(other), "--out", str(out), "--bootstrap", "0"])
        == 0
    )
    scored = json.loads(out.read_text())
    assert scored["n"] == 40 and scored["data"] == str(other)
    assert all(scored["per_label"][n]["auroc"]["value"] >= 0.95 for n in SHAPE_LABELS)


def _html_table(html: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, table_id
    return [
        re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1))
    ]


def _ci_text(entry: dict) -> str:
    return f"{entry['value']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


def test_report_shows_each_label_its_curves_and_errors(shapes_run: Path, tmp_path: Path) -> None:
    assert run_app(["report", str(shapes_run)]) == 0
    html = (shapes_run / "report.html").read_text()
    metrics = json.loads((shapes_run / "test_metrics.json").read_text())
    rows = {row[0]: row for row in _html_table(html, "per-label")}
    assert sorted(rows) == metrics["labels"]
    for name, block in metrics["per_label"].items():
        assert rows[name][1:4] == [
            str(block["n_positive"]),
            str(block["n_known"]),
            f"{block['threshold']:.4f}",
        ]
        figures = ("auroc", "average_precision", "sensitivity", "specificity")
        assert rows[name][4:8] == [_ci_text(block[key]) for key in figures], name
    summary = {row[0]: row[1] for row in _html_table(html, "label-summary")}
    assert summary == {
        "Macro AUROC": _ci_text(metrics["macro_auroc"]),
        "Micro AUROC": _ci_text(metrics["micro_auroc"]),
        "mAP": _ci_text(metrics["map"]),
    }
    stats = json.loads((shapes_run / "data_report.json").read_text())["multilabel"]
    counts = {row[0]: row[1:] for row in _html_table(html, "label-counts")}
    assert counts["disc"] == [
        str(stats[s]["frequency"]["disc"]["positive"]) for s in ("train", "val", "test")
    ]
    assert counts["images"] == [str(stats[s]["n"]) for s in ("train", "val", "test")]
    for figure in ("label_roc", "label_pr", "learning_curves"):
        assert (shapes_run / "plots" / f"{figure}.png").stat().st_size > 1000, figure
    assert "| disc |" in (shapes_run / "summary.md").read_text()

    # A copy whose decisions on two labels are wrong on known images: the co-occurrence of errors and the
    # most confident errors come from predictions_test.csv.
    run = tmp_path / "run"
    shutil.copytree(shapes_run, run, ignore=shutil.ignore_patterns("plots", "report.html"))
    table = pd.read_csv(run / "predictions_test.csv", keep_default_na=False)
    table.loc[0:3, "disc"] = 1 - table.loc[0:3, "disc"]  # disc wrong on rows 0-3
    table.loc[2:6, "bar"] = 1 - table.loc[2:6, "bar"]  # bar wrong on rows 2-6: 2 shared with disc
    table.to_csv(run / "predictions_test.csv", index=False)
    # ... and distinct figures per column in test_metrics.json (the trained model scores 1.0 everywhere).
    for j, block in enumerate(metrics["per_label"].values()):
        for k, key in enumerate(("auroc", "average_precision", "sensitivity", "specificity")):
            block[key] = {"value": 0.5 + 0.1 * k + 0.01 * j, "ci_low": 0.4, "ci_high": 0.95}
    (run / "test_metrics.json").write_text(json.dumps(metrics))
    assert run_app(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    rows = {row[0]: row for row in _html_table(html, "per-label")}
    for name, block in metrics["per_label"].items():
        assert rows[name][4:8] == [_ci_text(block[key]) for key in figures], name
    errors = {row[0]: row[1:] for row in _html_table(html, "error-cooccurrence")}
    assert errors["disc"] == ["4", "0.500", "1.000", "0.000"]  # columns: errors, bar, disc, square
    assert errors["bar"] == ["5", "1.000", "0.400", "0.000"]
    assert errors["square"] == ["0", "–", "–", "–"]
    assert (run / "plots" / "label_errors.png").stat().st_size > 1000


# Where each shape of make_shapes_multilabel sits in a 32 px image: (rows, columns).
SHAPE_REGIONS = {"disc": (slice(0, 16), slice(0, 16)), "square": (slice(0, 16), slice(16, 32)), "bar": (slice(16, 32), slice(0, 32))}  # fmt: skip


def test_explain_draws_a_map_per_label_on_that_labels_shape(shapes_run: Path, tmp_path: Path) -> None:
    manifest = pd.read_csv(shapes_run.parent / "shapes" / "labels.csv", keep_default_na=False)
    alone = {name: str(shapes_run.parent / "shapes" / manifest["path"][manifest["labels"] == name].iloc[0])
             for name in SHAPE_LABELS}  # fmt: skip  # an image with that one shape
    out = tmp_path / "all"
    assert run_app(["explain", str(shapes_run), *alone.values(), "--out", str(out)]) == 0
    index = pd.read_csv(out / "explanations.csv", keep_default_na=False)
    assert len(index) == 3 * len(alone) and set(index["method"]) == {"gradcam"}  # the cnn family's default
    for name, path in alone.items():
        rows = index[index["path"] == path].set_index("target")
        assert sorted(rows.index) == sorted(SHAPE_LABELS) and set(rows["prediction"]) == {name}
        maps = {label: np.load(out / rows.loc[label, "map"]) for label in SHAPE_LABELS}
        for other in set(SHAPE_LABELS) - {name}:
            assert not np.allclose(maps[name], maps[other], atol=0.05), (name, other)
        peak = np.unravel_index(np.argmax(maps[name]), maps[name].shape)
        rows_of, columns_of = SHAPE_REGIONS[name]
        assert rows_of.start <= peak[0] < rows_of.stop and columns_of.start <= peak[1] < columns_of.stop, name

    one = tmp_path / "square"
    assert (
        run_app(["explain", str(shapes_run), alone["square"], "--target", "square", "--out", str(one)]) == 0
    )
    row = pd.read_csv(one / "explanations.csv").iloc[0]
    assert row["target"] == "square" and row["map"] == Path(alone["square"]).stem + ".npy"
    square = index[(index["path"] == alone["square"]) & (index["target"] == "square")].iloc[0]
    assert np.allclose(np.load(one / row["map"]), np.load(out / square["map"]), atol=1e-5)
