"""Multi-label runs through `evaluate --all-epochs`, `evaluate --mc-dropout / --tta`, `tune` (mean AUROC the
default objective) and `validate` (label by label), on the synthetic shapes set whose labels a disc, a hollow
square and a bar switch on. The figures are checked against scikit-learn on the model's own probabilities."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from rich.console import Console
from sklearn.metrics import average_precision_score, roc_auc_score
from torch.utils.data import DataLoader, TensorDataset

from medclass.api.validate import validate
from medclass.cli.app import run_app
from medclass.data.multilabel import label_matrix
from medclass.data.synthetic import make_shapes_multilabel
from medclass.inference import runner as runner_module
from medclass.inference.inputs import load_images
from medclass.inference.runner import Predictor

FAST = [
    "--model", "cnn", "--image-size", "32", "--batch-size", "8", "--seed", "0",
    "--set", "model.cnn.blocks=[{out_channels: 8}, {out_channels: 16}]", "--set", "model.cnn.dense=[]",
    "--set", "model.cnn.head=flatten", "--set", "augment.preset=none", "--set", "data.num_workers=0",
    "--set", "trainer.progress_bar=false", "--set", "evaluation.report=false",
]  # fmt: skip


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shapes_multilabel(tmp_path_factory.mktemp("shapes") / "shapes", n=160, size=32, seed=1)


@pytest.fixture(scope="module")
def epochs_run(manifest: Path) -> Path:
    """Three kept epochs at a small learning rate (the first is measurably worse), with dropout for MC."""
    out = manifest.parent.parent / "run"
    args = ["train", "--data", str(manifest), "--out", str(out), *FAST, "--epochs", "3", "--lr", "0.0005"]
    args += ["--set", "checkpoint.every_epoch=true", "--set", "model.drop_rate=0.2"]
    args += ["--set", "evaluation.bootstrap=0"]
    assert run_app(args) == 0
    return out


def _split(run: Path, split: str = "test") -> tuple[list[str], np.ndarray, list[str]]:
    rows = pd.read_csv(run / "splits.csv", keep_default_na=False)
    rows = rows[rows["split"] == split]
    labels = json.loads((run / "test_metrics.json").read_text())["labels"]
    return list(rows["path"]), label_matrix(list(rows["label"]), labels), labels


def _macro(y: np.ndarray, probs: np.ndarray, score=roc_auc_score) -> float:
    return float(np.mean([score(y[:, j], probs[:, j]) for j in range(y.shape[1])]))


def test_all_epochs_scores_every_epoch_by_auroc_and_picks_the_best_macro_auroc(
    epochs_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "epochs.json"
    assert run_app(["evaluate", str(epochs_run), "--all-epochs", "--out", str(out)]) == 0
    table = pd.read_csv(epochs_run / "epoch_metrics.csv")
    paths, y, labels = _split(epochs_run)
    assert list(table.columns) == [
        "epoch", "n", "macro_auroc", "micro_auroc", "map", *(f"auroc_{n}" for n in labels), "best_macro_auroc",
    ]  # fmt: skip
    assert table["epoch"].tolist() == [1, 2, 3]
    for _, row in table.iterrows():
        probs = Predictor.load(epochs_run, int(row["epoch"])).predict_files(paths).probs
        assert row["n"] == len(paths)
        assert row["macro_auroc"] == pytest.approx(_macro(y, probs), abs=1e-6)
        assert row["micro_auroc"] == pytest.approx(roc_auc_score(y.ravel(), probs.ravel()), abs=1e-6)
        assert row["map"] == pytest.approx(_macro(y, probs, average_precision_score), abs=1e-6)
        for j, name in enumerate(labels):
            assert row[f"auroc_{name}"] == pytest.approx(roc_auc_score(y[:, j], probs[:, j]), abs=1e-6)
    assert table["macro_auroc"].nunique() > 1  # the epochs differ, so the pick means something
    best = int(table.loc[table["macro_auroc"].idxmax(), "epoch"])
    assert table.loc[table["best_macro_auroc"], "epoch"].tolist() == [best]
    summary = json.loads(out.read_text())
    assert summary["selected_by"] == "macro_auroc" and summary["best_epoch"] == best


def test_tta_averages_each_labels_sigmoid_over_the_views(epochs_run: Path, monkeypatch) -> None:
    paths, _, _ = _split(epochs_run)
    predictor = Predictor.load(epochs_run)
    plain = predictor.predict_files(paths)
    assert np.array_equal(predictor.predict_files(paths, tta=1).probs, plain.probs)  # view 0 is the image
    # Known per-view logits: the probabilities must be the mean of the sigmoids (not the sigmoid of the mean).
    views = np.stack([plain.logits, plain.logits + 3.0, plain.logits - 1.0]).astype(np.float32)
    monkeypatch.setattr(runner_module, "stacked_logits", lambda *args, **kwargs: views)
    result = predictor.predict_files(paths, tta=3)
    expected = (1 / (1 + np.exp(-views.astype(np.float64)))).mean(axis=0)
    np.testing.assert_allclose(result.probs, expected, rtol=1e-6)
    thresholds = predictor.meta.multilabel.thresholds
    assert np.array_equal(result.predicted, expected >= thresholds)
    entropy = -(expected * np.log(expected) + (1 - expected) * np.log(1 - expected))
    np.testing.assert_allclose(result.entropy, entropy.mean(axis=1), rtol=1e-6)


def test_evaluate_tta_and_mc_dropout_report_referral_by_macro_auroc(epochs_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "mc.json"
    args = ["evaluate", str(epochs_run), "--tta", "3", "--mc-dropout", "8", "--bootstrap", "0"]
    assert run_app([*args, "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    paths, y, _ = _split(epochs_run)
    predictor = Predictor.load(epochs_run)
    assert metrics["task"] == "multilabel" and metrics["tta"] == 3
    tta = predictor.predict_files(paths, tta=3).probs
    assert metrics["macro_auroc"]["value"] == pytest.approx(_macro(y, tta), abs=1e-6)

    referral = metrics["referral"]
    assert referral["uncertainty"] == "mean_binary_entropy" and referral["passes"] == 8
    assert referral["dropout_layers"] >= 1 and "accuracy" not in referral
    mc = predictor.predict_files(paths, mc_dropout=8, seed=0)
    p = mc.probs
    uncertainty = (-(p * np.log(p) + (1 - p) * np.log(1 - p))).mean(axis=1)
    assert referral["mean_uncertainty"] == pytest.approx(uncertainty.mean(), rel=1e-6)
    order = np.argsort(-uncertainty, kind="stable")
    n = len(paths)
    for point in referral["points"]:
        k = int(np.floor(point["fraction"] * n + 0.5))
        kept = order[k:]
        assert (point["n_referred"], point["n_kept"]) == (k, n - k)
        cutoff = None if k == 0 else pytest.approx(uncertainty[order[k - 1]], rel=1e-6)
        assert point["uncertainty_cutoff"] == cutoff
        assert point["macro_auroc"] == pytest.approx(_macro(y[kept], p[kept]), abs=1e-6)
        assert point["map"] == pytest.approx(_macro(y[kept], p[kept], average_precision_score), abs=1e-6)
    assert [pt["fraction"] for pt in referral["points"]] == [0.0, 0.1, 0.2]
    assert referral["macro_auroc"]["0.1"] == referral["points"][1]["macro_auroc"]
    curve = pd.read_csv(referral["csv"])
    assert list(curve.columns) == [
        "n_referred", "fraction_referred", "n_kept", "macro_auroc", "map", "uncertainty_cutoff",
    ]  # fmt: skip
    assert len(curve) == 20 and curve["n_referred"].is_monotonic_increasing


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def _explicit_mc_passes(run: Path, paths: list[str], passes: int) -> np.ndarray:
    """``(passes, N, K)`` sigmoid probabilities, pass p with the dropout modules on and torch seeded ``p``
    before its batches of 64 (a DataLoader, which draws its base seed from torch first, as predict's does)."""
    predictor = Predictor.load(run)
    model = predictor.model.eval()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.train()
    images = load_images(paths, predictor.meta)
    inputs = TensorDataset(images.tensor(range(len(paths)), predictor.meta))
    runs = []
    for p in range(passes):
        torch.manual_seed(p)
        with torch.no_grad():
            logits = torch.cat([model(x) for (x,) in DataLoader(inputs, batch_size=64)])
        runs.append(torch.sigmoid(logits.double()).numpy())
    return np.stack(runs)


def test_predict_mc_dropout_averages_each_labels_passes_and_decides_at_its_threshold(
    epochs_run: Path, tmp_path: Path
) -> None:
    paths, _, labels = _split(epochs_run)
    out = tmp_path / "mc.csv"
    assert run_app(["predict", str(epochs_run), *paths, "--mc-dropout", "6", "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == [
        "path", "prediction", *(f"p_{n}" for n in labels), *labels, "entropy", "std",
        *(f"std_{n}" for n in labels), "error",
    ]  # fmt: skip
    runs = _explicit_mc_passes(epochs_run, paths, 6)
    mean = runs.mean(axis=0)
    np.testing.assert_allclose(table[[f"p_{n}" for n in labels]], mean, atol=2e-6)
    np.testing.assert_allclose(table[[f"std_{n}" for n in labels]], runs.std(axis=0), atol=2e-6)
    np.testing.assert_allclose(table["std"], runs.std(axis=0).mean(axis=1), atol=2e-6)
    np.testing.assert_allclose(table["entropy"], _binary_entropy(mean).mean(axis=1), atol=2e-6)
    thresholds = Predictor.load(epochs_run).meta.multilabel.thresholds
    assert np.array_equal(table[labels].to_numpy(), (mean >= thresholds).astype(int))
    assert table["prediction"].tolist() == [
        "|".join(n for n, on in zip(labels, row, strict=True) if on) for row in mean >= thresholds
    ]
    plain = Predictor.load(epochs_run).predict_files(paths).probs
    assert (runs.std(axis=0) > 1e-3).any() and not np.allclose(mean, plain, atol=1e-3)  # the passes differ


def test_predict_tta_agrees_with_evaluate_and_flag_uncertain_uses_the_mean_binary_entropy(
    epochs_run: Path, tmp_path: Path, capsys
) -> None:
    paths, y, labels = _split(epochs_run)
    # A copy whose training augmentation flips images, so the views differ (the fixture trains without).
    run = tmp_path / "run"
    shutil.copytree(epochs_run, run, ignore=shutil.ignore_patterns("epoch=*"))
    state = torch.load(run / "checkpoints" / "best.ckpt", weights_only=False)
    state["medclass"]["config"]["augment"]["hflip"] = 0.5
    torch.save(state, run / "checkpoints" / "best.ckpt")
    out = tmp_path / "tta.csv"
    assert run_app(["predict", str(run), *paths, "--tta", "3", "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    probs = table[[f"p_{n}" for n in labels]].to_numpy()
    assert (table[[f"std_{n}" for n in labels]] > 0).any().any()
    np.testing.assert_allclose(table["entropy"], _binary_entropy(probs).mean(axis=1), atol=2e-6)
    thresholds = Predictor.load(run).meta.multilabel.thresholds
    assert np.array_equal(table[labels].to_numpy(), (probs >= thresholds - 1e-6).astype(int))
    metrics = tmp_path / "tta.json"
    assert run_app(["evaluate", str(run), "--tta", "3", "--bootstrap", "0", "--out", str(metrics)]) == 0
    scored = json.loads(metrics.read_text())["macro_auroc"]["value"]
    assert scored == pytest.approx(_macro(y, probs), abs=1e-5)
    plain = Predictor.load(run).predict_files(paths).probs
    assert not np.allclose(probs, plain, atol=1e-3)  # the views count

    # --flag-uncertain X: a row is flagged when its mean binary entropy exceeds X, with passes or alone.
    cutoff = float(np.median(table["entropy"]))
    flagged = tmp_path / "flag.csv"
    args = ["predict", str(run), *paths, "--tta", "3", "--flag-uncertain", str(cutoff), "--out", str(flagged)]
    assert run_app(args) == 0
    flags = pd.read_csv(flagged, keep_default_na=False)
    assert flags["uncertain"].tolist() == (flags["entropy"] > cutoff).tolist()
    assert 0 < flags["uncertain"].sum() < len(flags)
    alone = tmp_path / "alone.csv"
    assert run_app(["predict", str(run), *paths, "--flag-uncertain", "0.4", "--out", str(alone)]) == 0
    single = pd.read_csv(alone, keep_default_na=False)
    np.testing.assert_allclose(single["entropy"], _binary_entropy(plain).mean(axis=1), atol=2e-6)
    assert "std" not in single and single["uncertain"].tolist() == (single["entropy"] > 0.4).tolist()
    capsys.readouterr()
    for bad in (["--flag-uncertain", "-0.1"], ["--mc-dropout", "-2"], ["--tta", "-1"]):
        assert run_app(["predict", str(run), paths[0], *bad]) == 2, bad
        assert "Traceback" not in capsys.readouterr().err


def test_serve_mc_dropout_answers_per_label_as_predict_does(epochs_run: Path) -> None:
    from fastapi.testclient import TestClient

    from medclass.api import predict
    from medclass.api.serve import build_app

    paths, _, labels = _split(epochs_run)
    files = paths[:6]
    expected = predict(epochs_run, files, mc_dropout=5)
    uploads = [("file", (Path(p).name, Path(p).read_bytes(), "image/png")) for p in files]
    with TestClient(build_app(epochs_run)) as client:
        body = client.post("/v1/predict?mc_dropout=5", files=uploads).json()
        explain = client.post("/v1/predict?explain=gradcam", files=uploads[:1])
    assert explain.status_code == 400 and "multi-label" in explain.json()["detail"]
    assert len(body["results"]) == len(files)
    for result, (_, row) in zip(body["results"], expected.iterrows(), strict=True):
        assert result["passes"] == 5 and result["prediction"] == row["prediction"]
        assert result["entropy"] == pytest.approx(row["entropy"], abs=1e-6)
        assert result["std"] == pytest.approx(row["std"], abs=1e-6)
        assert result["uncertain"] == bool(row["entropy"] > np.log(2) / 2)
        assert list(result["labels"]) == labels
        for name in labels:
            assert result["labels"][name]["probability"] == pytest.approx(row[f"p_{name}"], abs=1e-6)
            assert result["labels"][name]["positive"] == bool(row[name])
            assert result["labels"][name]["std"] == pytest.approx(row[f"std_{name}"], abs=1e-6)


def test_operating_point_and_dicom_sr_are_refused_for_multilabel(
    epochs_run: Path, tmp_path: Path, capsys
) -> None:
    assert (
        run_app(["evaluate", str(epochs_run), "--operating-point", "youden", "--out", str(tmp_path / "a")])
        == 2
    )
    assert "--operating-point: not available for multi-label models" in capsys.readouterr().err
    assert run_app(["predict", str(epochs_run), str(tmp_path), "--dicom-sr", str(tmp_path / "sr")]) == 2
    assert "predict --dicom-sr: not available for multi-label models" in capsys.readouterr().err


def _noisy_site(root: Path) -> Path:
    """A second shapes set (other seed, the one-column-per-label layout) with noise added: another "site" on
    which the model ranks well but loses specificity at its thresholds."""
    manifest = make_shapes_multilabel(root, n=40, size=32, seed=7, layout="columns")
    rng = np.random.default_rng(0)
    for path in sorted((root / "images").glob("*.png")):
        pixels = np.asarray(Image.open(path), dtype=float)
        Image.fromarray(np.clip(pixels + rng.normal(0, 110, pixels.shape), 0, 255).astype(np.uint8)).save(
            path
        )
    return manifest


def _sklearn_figures(y: np.ndarray, probs: np.ndarray, thresholds: list[float]) -> list[dict[str, float]]:
    decided = probs >= np.asarray(thresholds)
    return [
        {
            "auroc": roc_auc_score(y[:, j], probs[:, j]),
            "average_precision": average_precision_score(y[:, j], probs[:, j]),
            "sensitivity": float(decided[y[:, j] == 1, j].mean()),
            "specificity": float(1 - decided[y[:, j] == 0, j].mean()),
        }
        for j in range(y.shape[1])
    ]


def test_validate_scores_a_multilabel_run_label_by_label(epochs_run: Path, tmp_path: Path) -> None:
    external = _noisy_site(tmp_path / "hosp")
    # A subgroup column made of the disc label itself: inside each subgroup the disc has one class only.
    table = pd.read_csv(external)
    internal_rows = pd.read_csv(epochs_run / "splits.csv", keep_default_na=False).query("split == 'test'")
    pd.DataFrame(
        {
            "path": [str(external.parent / p) for p in table["path"]] + list(internal_rows["path"]),
            "disc_shown": list(table["disc"].map({1: "yes", 0: "no"}))
            + ["yes" if "disc" in t.split("|") else "no" for t in internal_rows["label"]],
        }
    ).to_csv(tmp_path / "groups.csv", index=False)
    out = tmp_path / "validation"
    result = validate(
        epochs_run, external=[f"hosp={external}"], subgroups=["site", str(tmp_path / "groups.csv")], out=out,
        bootstrap=200, console=Console(file=io.StringIO()),
    )  # fmt: skip
    saved = json.loads((out / "validation.json").read_text())
    assert saved["task"] == "multilabel" and saved["labels"] == result["labels"]
    labels = saved["labels"]
    predictor = Predictor.load(epochs_run)
    thresholds = list(predictor.meta.multilabel.thresholds)  # the stored ones predict/export/serve use
    paths, y_internal, _ = _split(epochs_run)
    sites = {
        "internal": (y_internal, predictor.predict_files(paths).probs),
        "hosp": (
            table[labels].to_numpy(float),
            predictor.predict_files([str(external.parent / p) for p in table["path"]]).probs,
        ),
    }
    for site, (y, probs) in sites.items():
        block = saved["label_sites"][site]
        assert block["n"] == len(y)
        for name, expected in zip(labels, _sklearn_figures(y, probs, thresholds), strict=True):
            for measure, value in expected.items():
                figure = block["per_label"][name][measure]
                assert figure["value"] == pytest.approx(value, abs=1e-6), (site, name, measure)
                assert figure["ci_low"] <= figure["value"] <= figure["ci_high"]
            assert block["per_label"][name]["threshold"] == pytest.approx(thresholds[labels.index(name)])
        assert block["macro_auroc"]["value"] == pytest.approx(_macro(y, probs), abs=1e-6)
        assert block["micro_auroc"]["value"] == pytest.approx(
            roc_auc_score(y.ravel(), probs.ravel()), abs=1e-6
        )
        assert block["map"]["value"] == pytest.approx(_macro(y, probs, average_precision_score), abs=1e-6)
        for key in ("macro_auroc", "micro_auroc", "map"):
            assert block[key]["ci_low"] <= block[key]["value"] <= block[key]["ci_high"]
        groups = saved["label_subgroups"]["columns"]["site"]["groups"][site]
        assert (
            groups["per_label"][labels[0]]["auroc"]["value"]
            == block["per_label"][labels[0]]["auroc"]["value"]
        )
    by_disc = saved["label_subgroups"]["columns"]["disc_shown"]["groups"]
    assert (
        by_disc["yes"]["per_label"]["disc"]["not_estimable"] == "no negative image of disc in this subgroup"
    )
    assert by_disc["no"]["per_label"]["disc"]["not_estimable"] == "no positive image of disc in this subgroup"
    assert by_disc["no"]["per_label"]["disc"]["auroc"]["value"] is None
    assert by_disc["no"]["per_label"]["bar"]["auroc"]["value"] is not None  # the other labels still are
    assert by_disc["no"]["n"] + by_disc["yes"]["n"] == len(paths) + len(table)
    hosp_auroc = [saved["label_sites"]["hosp"]["per_label"][n]["auroc"]["value"] for n in labels]
    assert min(hosp_auroc) < 1.0  # the noisy site is not perfect, so the comparison above means something
    gaps = saved["label_transfer"]["sites"]["hosp"]
    for name in labels:
        gap = gaps["per_label"][name]["specificity"]
        internal = saved["label_sites"]["internal"]["per_label"][name]["specificity"]["value"]
        assert gap["difference"] == pytest.approx(
            saved["label_sites"]["hosp"]["per_label"][name]["specificity"]["value"] - internal
        )
        assert gap["ci_low"] <= gap["difference"] <= gap["ci_high"]
    assert gaps["verdict"] == "breaks"  # the noise makes every label positive far more often
    assert saved["shortcuts"] is None and "shortcuts" in saved["not_for_multilabel"]
    assert saved["external"] is None and saved["decision_curve"] is None
    assert len(pd.read_csv(out / "predictions.csv")) == len(paths) + len(table)
    assert (out / saved["figures"]["label_roc"]).is_file() and (out / "dossier.md").is_file()
    # The dossier claims nothing a multi-label run does not have (one class per image, a confusion matrix).
    for checklist in saved["checklists"].values():
        for item in checklist["items"].values():
            answer = item["answer"].lower() if item["filled"] else ""
            assert not any(word in answer for word in ("confusion", "argmax", "softmax", "classes")), answer
    card = (out / "model_card.md").read_text()
    assert "multi-label image classifier" in card and "argmax" not in card
    assert saved["checklists"]["stard_ai"]["items"]["31"]["filled"]  # the accuracy estimates are per label


def test_validate_refuses_an_unknown_label_or_a_missing_label_column(
    manifest: Path, epochs_run: Path, tmp_path: Path, capsys
) -> None:
    table = pd.read_csv(manifest, keep_default_na=False)
    table["path"] = [str(manifest.parent / p) for p in table["path"]]
    unknown = table.copy()
    unknown.loc[2, "labels"] = "disc|nodule"
    unknown.to_csv(tmp_path / "unknown.csv", index=False)
    columns = table[["path"]].assign(bar=1, square=0)  # the disc column is missing
    columns.to_csv(tmp_path / "columns.csv", index=False)
    expected = {
        "unknown.csv": "line 4, column 'labels': 'nodule' is not a label of the model",
        "columns.csv": "no column for the model's label(s) 'disc'",
    }
    for name, message in expected.items():
        out = tmp_path / f"validation-{name}"
        assert (
            run_app(["validate", str(epochs_run), "--external", f"b={tmp_path / name}", "--out", str(out)])
            == 2
        )
        err = capsys.readouterr().err
        assert message in err and str(tmp_path / name) in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_tune_on_multilabel_data_maximises_the_mean_val_auroc(manifest: Path, tmp_path: Path) -> None:
    space = tmp_path / "sweep.space.yaml"
    space.write_text("lr: {type: float, low: 1e-4, high: 5e-4, log: true}\n")
    args = ["tune", "--space", str(space), "--trials", "2", "--sampler", "random", "--data", str(manifest)]
    args += [*FAST, "--epochs", "1", "--set", "evaluation.bootstrap=0", "--out", str(tmp_path / "out")]
    assert run_app(args) == 0
    import optuna

    from medclass.campaigns.study import storage_url

    (study,) = optuna.get_all_study_summaries(storage=storage_url(tmp_path / "out"))
    loaded = optuna.load_study(study_name=study.study_name, storage=storage_url(tmp_path / "out"))
    assert loaded.direction == optuna.study.StudyDirection.MAXIMIZE
    trials = [t for t in loaded.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(trials) == 2
    for trial in trials:
        run = tmp_path / "out" / "trials" / f"trial-{trial.number:04d}" / "run"
        paths, y, _ = _split(run, "val")
        probs = Predictor.load(run).predict_files(paths).probs
        assert trial.value == pytest.approx(_macro(y, probs), abs=1e-4)  # the mean per-label AUROC on val
        assert (
            torch.load(run / "checkpoints" / "best.ckpt", weights_only=False)["medclass"]["config"][
                "trainer"
            ]["monitor"]
            == "val_auroc"
        )
