"""``medclass export`` refuses bad input before any work, with exit 2 and one line, and leaves no folder behind
(issue 22): an opset the installed onnx or the exporter does not know, an unwritable ``--out``, a quantization
of a TorchScript bundle; a failure during the export removes the folder it created."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from medclass.api.export import export
from medclass.cli.app import run_app
from medclass.utils.errors import ConfigError, RunDirError


def _unwritable(tmp_path: Path) -> Path:
    """A folder under which nothing can be created (a read-only folder, or /sys for root)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    if not os.access(folder, os.W_OK):
        return folder / "bundle"
    try:
        os.mkdir("/sys/medclass-probe")
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES, errno.EROFS):
            return Path("/sys/medclass-probe/bundle")
        raise
    os.rmdir("/sys/medclass-probe")
    pytest.skip("no unwritable folder on this machine (root, writable /sys)")


def _monitor_work(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record whether the model was loaded (the export's work started)."""
    loaded: list[object] = []
    import medclass.serving.export as export_module

    real = export_module.load_for_inference
    monkeypatch.setattr(
        export_module, "load_for_inference", lambda *a, **k: loaded.append(a) or real(*a, **k)
    )
    return loaded


def test_an_opset_beyond_the_installed_onnx_is_refused_before_work(
    trained_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnx

    loaded = _monitor_work(monkeypatch)
    newest = onnx.defs.onnx_opset_version()
    with pytest.raises(ConfigError, match=rf"--opset {newest + 1}: .*supports opsets \d+ to \d+"):
        export(trained_run, "onnx", out=tmp_path / "b", opset=newest + 1)
    assert not (tmp_path / "b").exists() and not loaded
    monkeypatch.delenv("MEDCLASS_DEBUG", raising=False)
    assert (
        run_app(["export", str(trained_run), "--opset", str(newest + 1), "--out", str(tmp_path / "c")]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith(f"error: --opset {newest + 1}:") and "\n" not in err and not (tmp_path / "c").exists()
    )


def test_an_opset_the_exporter_does_not_support_is_refused(trained_run: Path, tmp_path: Path) -> None:
    from torch.onnx import _constants

    too_new = _constants.ONNX_MAX_OPSET + 1
    with pytest.raises(ConfigError, match=rf"--opset {too_new}:"):
        export(trained_run, "onnx", out=tmp_path / "b", opset=too_new)
    assert not (tmp_path / "b").exists()


def test_an_unwritable_out_is_refused_before_work(
    trained_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _unwritable(tmp_path)
    loaded = _monitor_work(monkeypatch)
    with pytest.raises(RunDirError, match=rf"--out {out}: cannot write"):
        export(trained_run, "onnx", out=out)
    assert not loaded
    monkeypatch.delenv("MEDCLASS_DEBUG", raising=False)
    assert run_app(["export", str(trained_run), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --out {out}: cannot write") and "\n" not in err


def test_a_refused_export_leaves_no_folder_and_the_same_command_runs_again(
    trained_run: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="--quantize dynamic applies to --format onnx only"):
        export(trained_run, "torchscript", out=tmp_path / "b", quantize="dynamic")
    with pytest.raises(ConfigError, match="--format tflite"):
        export(trained_run, "tflite", out=tmp_path / "b")
    assert not (tmp_path / "b").exists()
    export(trained_run, "torchscript", out=tmp_path / "b")  # no --overwrite needed


def test_an_export_that_fails_midway_removes_its_folder(
    trained_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        (tmp_path / "b" / "model.onnx").write_bytes(b"half")
        raise RuntimeError("boom")

    monkeypatch.setattr("medclass.api.export.export_model", broken)
    with pytest.raises(RuntimeError, match="boom"):
        export(trained_run, "onnx", out=tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_an_operator_the_opset_lacks_is_a_user_error_and_leaves_no_folder(
    trained_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torch.onnx.errors import UnsupportedOperatorError

    def unsupported(*args: object, **kwargs: object) -> None:
        raise UnsupportedOperatorError("aten::foo", 7, 9)

    monkeypatch.setattr("torch.onnx.export", unsupported)
    with pytest.raises(
        ConfigError, match=r"--opset 7: the model cannot be exported at this opset \(.*aten::foo"
    ):
        export(trained_run, "onnx", out=tmp_path / "b", opset=7)
    assert not (tmp_path / "b").exists()
