"""``medclass.Run`` / ``medclass.load_run``: a run folder's results and paths, read from its files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import medclass
from medclass.utils.errors import RunDirError


def test_a_run_reads_its_results_and_paths(trained_run: Path) -> None:
    run = medclass.load_run(trained_run)
    assert run.path == trained_run and os.fspath(run) == str(trained_run)
    assert run.metrics is not None and run.metrics["n"] == 20
    assert run.history["epoch"].tolist() == [1, 2, 3]
    assert run.classes == ["no_tumor", "tumor"] and run.config.model.name == "cnn"
    assert run.checkpoint == trained_run / "checkpoints" / "best.ckpt" and run.checkpoint.is_file()
    assert run.test_predictions is not None and len(run.test_predictions) == 20
    assert run.report_file == trained_run / "report.html"
    assert run.plots and all(p.parent == trained_run / "plots" for p in run.plots.values())
    assert run.name == run.files().name
    text = repr(run)
    assert text.startswith(f"Run({str(trained_run)!r}: cnn, 3 epoch(s), best ")
    assert "test accuracy" in text and "n=20" in text


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="not a medclass run folder"):
        medclass.load_run(tmp_path)


def test_a_run_without_test_metrics_says_so(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("model: {name: resnet18}\n")
    run = medclass.Run(tmp_path)
    assert run.metrics is None and run.report_file is None and run.plots == {}
    assert repr(run) == f"Run({str(tmp_path)!r}: resnet18, 0 epoch(s), best None, no test metrics)"
