"""``medclass ensemble``: the mean of the members' calibrated probabilities, as a run-like folder that evaluate,
predict, report, export and serve take; refusals of runs that cannot be averaged."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from console_script import console_script, script_env
from fastapi.testclient import TestClient

from medclass.api import predict, train
from medclass.api.ensemble import ensemble
from medclass.api.export import export
from medclass.api.serve import build_app
from medclass.cli.app import run_app
from medclass.evaluation.stats import mcnemar_test
from medclass.inference.decision import probabilities
from medclass.inference.torch_decision import torch_probabilities
from tests.api.conftest import make_fast_config
from tests.conftest import write_image


@pytest.fixture(scope="module")
def members(phantom_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two runs of different seeds on the same split (split.seed fixed)."""
    root = tmp_path_factory.mktemp("members")
    runs = []
    for seed in (1, 2):
        out = root / f"seed{seed}"
        train(
            make_fast_config(
                phantom_data,
                out,
                ["split.seed=5", "evaluation.report=false", "evaluation.calibrate=true"],
                seed=seed,
            )
        )
        runs.append(out)
    return runs


@pytest.fixture(scope="module")
def ensemble_dir(members: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ens") / "ensemble"
    ensemble(members, out)
    return out


def _probs(table: pd.DataFrame) -> np.ndarray:
    return table[[c for c in table.columns if c.startswith("p_")]].to_numpy()


def test_the_ensemble_is_the_mean_of_calibrated_member_probabilities(members, ensemble_dir) -> None:
    tables = [pd.read_csv(run / "predictions_test.csv").set_index("path") for run in members]
    ours = pd.read_csv(ensemble_dir / "predictions_test.csv").set_index("path")
    expected = np.mean([_probs(t.loc[ours.index]) for t in tables], axis=0)
    np.testing.assert_allclose(_probs(ours), expected, atol=2e-5)
    temperatures = [
        torch.load(run / "checkpoints" / "best.ckpt", weights_only=False)["medclass"]["decision"][
            "temperature"
        ]
        for run in members
    ]
    assert any(abs(t - 1.0) > 1e-3 for t in temperatures)  # the members' calibration is part of the mean

    metrics = json.loads((ensemble_dir / "test_metrics.json").read_text())
    assert metrics["n"] == len(ours) and metrics["ensemble"] == [str(m) for m in members]
    ci = metrics["ci"]["accuracy"]
    assert ci["ci_low"] <= metrics["accuracy"] == ci["value"] <= ci["ci_high"]


def test_mcnemar_against_each_member(members, ensemble_dir) -> None:
    report = json.loads((ensemble_dir / "ensemble.json").read_text())
    ours = pd.read_csv(ensemble_dir / "predictions_test.csv").set_index("path")
    right = ours["prediction"] == ours["label"]
    assert [r["run"] for r in report["members"]] == [str(m) for m in members]
    for row, run in zip(report["members"], members, strict=True):
        theirs = pd.read_csv(run / "predictions_test.csv").set_index("path").loc[ours.index]
        expected = mcnemar_test(right.to_numpy(), (theirs["prediction"] == theirs["label"]).to_numpy())
        assert row["mcnemar"] == expected
        assert row["member_accuracy"] == pytest.approx((theirs["prediction"] == theirs["label"]).mean())
    table = pd.read_csv(ensemble_dir / "ensemble_members.csv")
    assert list(table["run"]) == [str(m) for m in members]


def test_evaluate_predict_report_export_and_serve_take_the_folder(ensemble_dir, tmp_path: Path) -> None:
    assert run_app(["evaluate", str(ensemble_dir), "--out", str(tmp_path / "eval.json")]) == 0
    evaluated = json.loads((tmp_path / "eval.json").read_text())
    saved = json.loads((ensemble_dir / "test_metrics.json").read_text())
    assert evaluated["accuracy"] == pytest.approx(saved["accuracy"])

    files = list(pd.read_csv(ensemble_dir / "predictions_test.csv")["path"][:4])
    predicted = predict(ensemble_dir, files)
    rows = pd.read_csv(ensemble_dir / "predictions_test.csv").set_index("path").loc[files]
    np.testing.assert_allclose(_probs(predicted), _probs(rows), atol=2e-5)

    assert run_app(["report", str(ensemble_dir)]) == 0
    assert (ensemble_dir / "report.html").is_file()

    bundle = tmp_path / "bundle"
    export(ensemble_dir, out=bundle)
    from_bundle = predict(bundle, files)
    np.testing.assert_allclose(_probs(from_bundle), _probs(predicted), atol=1e-4)

    with TestClient(build_app(ensemble_dir)) as client:
        upload = [("file", (Path(p).name, Path(p).read_bytes(), "application/octet-stream")) for p in files]
        response = client.post("/v1/predict", files=upload)
    assert response.status_code == 200, response.text
    served = [r["prediction"] for r in response.json()["results"]]
    assert served == list(predicted["prediction"])


def test_torch_probabilities_match_the_decision_rule() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    np.testing.assert_allclose(
        torch_probabilities(logits, torch.tensor(1.7), False).numpy(),
        probabilities(logits.numpy(), 1.7),
        atol=1e-6,
    )
    one = torch.tensor([[0.3], [-2.0]])
    np.testing.assert_allclose(
        torch_probabilities(one, torch.tensor(0.8), True).numpy(), probabilities(one.numpy(), 0.8), atol=1e-6
    )


def test_runs_that_cannot_be_averaged_are_refused_with_exit_2(
    members, phantom_data: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    other_split = tmp_path / "other_split"
    train(
        make_fast_config(
            phantom_data, other_split, ["split.seed=9", "trainer.epochs=1", "evaluation.report=false"]
        )
    )
    assert run_app(["ensemble", str(members[0]), str(other_split), "--out", str(tmp_path / "e1")]) == 2
    assert "were tested on different images" in " ".join(capsys.readouterr().err.split())

    data = tmp_path / "other_classes"
    for c, label in enumerate(("x", "y")):
        for i in range(12):
            write_image(data / label / f"{i}.png", size=(24, 24), seed=100 * c + i)
    other_classes = tmp_path / "other_classes_run"
    train(make_fast_config(data, other_classes, ["trainer.epochs=1", "evaluation.report=false"]))
    assert run_app(["ensemble", str(members[0]), str(other_classes), "--out", str(tmp_path / "e2")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "classes ['x', 'y'] differ from those of" in err

    assert run_app(["ensemble", str(members[0]), "--out", str(tmp_path / "e3")]) == 2
    assert "at least two runs" in " ".join(capsys.readouterr().err.split())


def test_the_console_script_writes_the_ensemble(members, ensemble_dir, tmp_path: Path) -> None:
    """``medclass ensemble RUN RUN --out E`` as a user runs it: exit 0 and the ensemble of the members."""
    out = tmp_path / "ensemble"
    command = [*console_script(), "ensemble", *(str(m) for m in members), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=script_env(), timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    ours = pd.read_csv(out / "predictions_test.csv").set_index("path")
    tables = [pd.read_csv(run / "predictions_test.csv").set_index("path").loc[ours.index] for run in members]
    np.testing.assert_allclose(_probs(ours), np.mean([_probs(t) for t in tables], axis=0), atol=2e-5)
    written, by_api = (json.loads((d / "test_metrics.json").read_text()) for d in (out, ensemble_dir))
    assert written["n"] == len(ours) and written["accuracy"] == pytest.approx(by_api["accuracy"])
    members_json = json.loads((out / "ensemble.json").read_text())["members"]
    assert [r["run"] for r in members_json] == [str(m) for m in members]
