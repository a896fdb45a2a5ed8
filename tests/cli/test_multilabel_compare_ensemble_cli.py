"""`medclass compare` and `medclass ensemble` on two multi-label runs of the shapes set (the same split, one
trained well, one barely): per-label AUROCs equal to each run's test_metrics.json, DeLong's test per label
against the best run / each member, the ensemble scored as the mean of its members' sigmoid probabilities, and
the one-line refusals (runs of other labels, other test images, a single-label run among them)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from medclass.api.compare import compare
from medclass.cli.app import run_app
from medclass.data.multilabel import label_matrix
from medclass.data.synthetic import SHAPE_LABELS, make_shapes_multilabel
from medclass.evaluation.delong import delong_test
from medclass.inference.runner import Predictor
from tests.cli.test_multilabel_train_cli import FAST

LABELS = sorted(SHAPE_LABELS)


def _with(args: list[str], flag: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(flag) + 1] = value
    return out


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("multilabel-pair")
    manifest = make_shapes_multilabel(root / "shapes", n=160, size=32, seed=1)
    good, weak = root / "good", root / "weak"
    assert run_app(["train", "--data", str(manifest), "--out", str(good), *FAST]) == 0
    # Another seed, one epoch at a tiny learning rate: a weaker model on the same split (split.seed fixed).
    weak_args = _with(_with(_with(FAST, "--seed", "1"), "--epochs", "1"), "--lr", "0.00005")
    assert (
        run_app(["train", "--data", str(manifest), "--out", str(weak), *weak_args, "--set", "split.seed=0"])
        == 0
    )
    return good, weak


def _metrics(run: Path) -> dict:
    return json.loads((run / "test_metrics.json").read_text())


def _test_scores(run: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    table = pd.read_csv(run / "predictions_test.csv", keep_default_na=False)
    return (
        list(table["path"]),
        label_matrix(list(table["label"]), LABELS),
        table[[f"p_{n}" for n in LABELS]].to_numpy(),
    )


def test_compare_gives_each_runs_label_auroc_and_delong_against_the_best(two_runs, tmp_path, capsys) -> None:
    good, weak = two_runs
    result = compare([weak, good], out=tmp_path / "cmp")
    comparison = result.comparison
    macro = {run.name: _metrics(run)["macro_auroc"]["value"] for run in two_runs}
    assert comparison.best == max(macro, key=macro.get) == "good"
    assert comparison.table.set_index("variant")["macro_auroc"].to_dict() == macro
    per_label = comparison.per_label.set_index(["variant", "label"])
    assert sorted(per_label.index) == sorted((v, n) for v in ("good", "weak") for n in LABELS)
    paths, truth, best_scores = _test_scores(good)
    weak_paths, _, weak_scores = _test_scores(weak)
    weak_scores = weak_scores[[weak_paths.index(p) for p in paths]]  # aligned by path, as compare must
    for j, name in enumerate(LABELS):
        for run in two_runs:
            expected = _metrics(run)["per_label"][name]["auroc"]
            row = per_label.loc[(run.name, name)]
            assert (row["auroc"], row["auroc_ci_low"], row["auroc_ci_high"]) == (
                expected["value"],
                expected["ci_low"],
                expected["ci_high"],
            )
        test = delong_test(truth[:, j], best_scores[:, j], weak_scores[:, j])
        row = per_label.loc[("weak", name)]
        assert 0 <= row["p_value"] <= 1 and row["p_value"] == pytest.approx(test["p_value"])
        assert row["difference"] == pytest.approx(
            _metrics(good)["per_label"][name]["auroc"]["value"] - row["auroc"]
        )
        assert pd.isna(per_label.loc[("good", name), "p_value"])
    assert (per_label.loc["weak", "difference"] > 0).any()  # the weak run is worse somewhere
    written = pd.read_csv(tmp_path / "cmp" / "comparison_per_label.csv")
    assert len(written) == 2 * len(LABELS) and "p_value" in written.columns
    assert "DeLong p" in (tmp_path / "cmp" / "comparison.md").read_text()
    assert 'id="comparison-1"' in (tmp_path / "cmp" / "comparison.html").read_text()
    assert (tmp_path / "cmp" / "plots" / "bars_macro_auroc.png").is_file()


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def test_compare_and_ensemble_refuse_mismatched_runs_with_one_line(two_runs, tmp_path, capsys) -> None:
    good, weak = two_runs
    other_labels = _copy(weak, tmp_path / "renamed")
    metrics = _metrics(other_labels)
    metrics["labels"] = ["bar", "disc", "circle"]
    (other_labels / "test_metrics.json").write_text(json.dumps(metrics))
    fewer = _copy(weak, tmp_path / "fewer")
    table = pd.read_csv(fewer / "predictions_test.csv", keep_default_na=False)
    table.iloc[1:].to_csv(fewer / "predictions_test.csv", index=False)
    single = _copy(weak, tmp_path / "single")
    metrics = _metrics(single)
    del metrics["task"]  # a single-label run's test_metrics.json has no task key
    (single / "test_metrics.json").write_text(json.dumps(metrics))
    cases = [
        (other_labels, "differ from those of"),
        (fewer, "were tested on different images (1 only in the first, 0 only in the second"),
        (
            single,
            "is a multi-label run and "
            + str(tmp_path / "single")
            + " a single-label one; compare runs of one task type",
        ),
    ]
    for run, message in cases:
        out = tmp_path / f"cmp-{run.name}"
        assert run_app(["compare", str(run), str(good), "--out", str(out)]) == 2, run.name
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    out = tmp_path / "ens-fewer"
    assert run_app(["ensemble", str(fewer), str(good), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "were tested on different images" in err and not out.exists()


def test_ensemble_scores_the_mean_of_the_members_sigmoid_probabilities(two_runs, tmp_path) -> None:
    good, weak = two_runs
    out = tmp_path / "ens"
    assert run_app(["ensemble", str(good), str(weak), "--out", str(out)]) == 0
    metrics, member = _metrics(out), _metrics(good)
    assert metrics["task"] == "multilabel" and metrics["labels"] == LABELS
    assert set(member) - {"best_epoch", "checkpoint"} <= set(metrics)
    paths, truth, _ = _test_scores(good)
    # Independently: each member's own probabilities on the test images, averaged here.
    mean = np.mean([Predictor.load(run).predict_files(paths).probs for run in two_runs], axis=0)
    for j, name in enumerate(LABELS):
        assert metrics["per_label"][name]["auroc"]["value"] == pytest.approx(
            roc_auc_score(truth[:, j], mean[:, j])
        )
        assert metrics["operating_points"][name]["rule"] == "youden"
        assert metrics["operating_points"][name]["chosen_on"] == "val"
    ens_paths, _, ens_scores = _test_scores(out)
    assert ens_paths == paths and ens_scores == pytest.approx(mean, abs=2e-6)  # the CSV rounds to 6 decimals
    report = json.loads((out / "ensemble.json").read_text())
    assert [m["run"] for m in report["members"]] == [str(good), str(weak)]
    for row in report["members"]:
        for name in LABELS:
            test = row["per_label"][name]
            assert test["ensemble_auroc"] == pytest.approx(metrics["per_label"][name]["auroc"]["value"])
            assert 0 <= test["p_value"] <= 1
    assert len(pd.read_csv(out / "ensemble_members.csv")) == 2 * len(LABELS)
