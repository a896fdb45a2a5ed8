"""What the CLI does when a command fails: user errors exit 2, anything else exits 3 with a log, Ctrl-C 130."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from medclass.cli.app import run_app
from medclass.utils.errors import DataError

INTERNAL = "internal error: RuntimeError: boom; run with --debug for the traceback; please report it"


def _fail_with(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr("medclass.api.report.report", broken)


def test_an_unexpected_exception_is_one_line_and_a_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEDCLASS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MEDCLASS_DEBUG", raising=False)
    _fail_with(monkeypatch, RuntimeError("boom"))
    assert run_app(["report", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert INTERNAL in err and "Traceback" not in err
    log = Path(err.split("traceback written to ")[1].strip())
    assert log.parent == tmp_path / "cache" / "logs"
    assert "Traceback" in log.read_text() and "RuntimeError: boom" in log.read_text()


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fail_with(monkeypatch, RuntimeError("boom"))
    if how == "env":
        monkeypatch.setenv("MEDCLASS_DEBUG", "1")
    argv = ["--debug"] if how == "flag" else []
    assert run_app([*argv, "report", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and INTERNAL in err


def test_a_user_error_is_one_line_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MEDCLASS_DEBUG", raising=False)
    _fail_with(monkeypatch, DataError("scan.png: not a regular file [fifo]"))
    assert run_app(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: scan.png: not a regular file [fifo]"


def test_ctrl_c_says_interrupted_with_exit_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fail_with(monkeypatch, KeyboardInterrupt())
    assert run_app(["report", str(tmp_path)]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_ctrl_c_during_fit_names_the_run_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lightning turns Ctrl-C in fit into sys.exit(1) after calling on_exception; train still says what to do."""
    run_dir = tmp_path / "run"

    def interrupted_fit(cfg: object, callbacks: list, **kwargs: object) -> None:
        full = SimpleNamespace(
            save_weights_only=False, best_model_path=str(run_dir / "last.ckpt"), last_model_path=""
        )
        trainer = SimpleNamespace(default_root_dir=str(run_dir), checkpoint_callbacks=[full])
        for callback in callbacks:
            callback.setup(trainer, None, "fit")
            callback.on_exception(trainer, None, KeyboardInterrupt())
        raise SystemExit(1)

    monkeypatch.setattr(importlib.import_module("medclass.api.train"), "train", interrupted_fit)
    assert run_app(["train", "--data", str(tmp_path), "--out", str(run_dir)]) == 130
    err = capsys.readouterr().err.splitlines()
    assert err == ["interrupted", f"resume with: medclass train --resume --out {run_dir}"]
