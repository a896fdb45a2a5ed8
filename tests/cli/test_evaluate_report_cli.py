"""``medclass evaluate`` flags (--all-epochs, --operating-point, --mc-dropout) and ``medclass report``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from medclass.cli.app import run_app


@pytest.fixture(scope="module")
def run(phantom_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished fast run (every epoch kept, no report yet: the CLI writes it)."""
    from api.conftest import make_fast_config

    from medclass.api import train

    out = tmp_path_factory.mktemp("cli") / "run"
    train(make_fast_config(phantom_data, out, ["checkpoint.every_epoch=true", "evaluation.report=false"]))
    return out


def _plain(text: str) -> str:
    """Help text without ANSI colours and box drawing, whitespace collapsed."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m|[│╭╮╰╯─]", " ", text).split())


def test_report_command_writes_html_and_summary(run: Path, tmp_path: Path, capsys) -> None:
    assert not (run / "report.html").exists()
    assert run_app(["report", str(run)]) == 0
    assert (run / "report.html").is_file() and (run / "summary.md").is_file()
    assert "report written to" in capsys.readouterr().out
    out = tmp_path / "copy.html"
    assert run_app(["report", str(run), "--out", str(out)]) == 0
    assert 'id="test-metrics"' in out.read_text()


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path: Path, capsys) -> None:
    assert run_app(["report", str(tmp_path)]) == 2
    assert "not a medclass run folder" in capsys.readouterr().err


def test_evaluate_all_epochs(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "epochs.json"
    assert run_app(["evaluate", str(run), "--all-epochs", "--out", str(out)]) == 0
    table = pd.read_csv(run / "epoch_metrics.csv")
    assert table["epoch"].tolist() == [1, 2, 3]
    saved = json.loads(out.read_text())
    assert saved["best_epoch"] == int(table.loc[table["macro_f1"].idxmax(), "epoch"])
    assert len(saved["rows"]) == 3


@pytest.mark.parametrize("extra", [["--epoch", "1"], ["--operating-point", "youden"]])
def test_all_epochs_refuses_flags_that_do_not_apply(run: Path, extra: list[str], capsys) -> None:
    assert run_app(["evaluate", str(run), "--all-epochs", *extra]) == 2
    assert extra[0] in capsys.readouterr().err


def test_evaluate_operating_point(run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "m.json"
    code = run_app(
        ["evaluate", str(run), "--operating-point", "specificity=0.9", "--bootstrap", "20", "--out", str(out)]
    )
    assert code == 0
    saved = json.loads(out.read_text())
    assert saved["operating_point"]["rule"] == "specificity=0.9"
    assert saved["at_0.5"]["n"] == saved["at_threshold"]["n"] == saved["n"]
    assert saved["ci"]["n_resamples"] == 20
    assert "chosen on val" in capsys.readouterr().out
    assert run_app(["evaluate", str(run), "--operating-point", "precision=0.9"]) == 2
    assert "allowed forms" in capsys.readouterr().err


def test_evaluate_help_lists_every_flag(capsys) -> None:
    assert run_app(["evaluate", "--help"]) == 0
    text = _plain(capsys.readouterr().out)
    for flag in (
        "--data",
        "--split",
        "--epoch",
        "--all-epochs",
        "--out",
        "--bootstrap",
        "--operating-point",
        "--mc-dropout",
    ):
        assert flag in text, flag


def test_mc_dropout_reports_referral(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    code = run_app(["evaluate", str(run), "--mc-dropout", "4", "--bootstrap", "0", "--out", str(out)])
    assert code == 0
    saved = json.loads(out.read_text())
    referral = saved["referral"]
    assert [p["fraction"] for p in referral["points"]] == [0.0, 0.1, 0.2]
    assert referral["n"] == saved["n"]
    curve = pd.read_csv(referral["csv"])
    assert len(curve) == saved["n"]
