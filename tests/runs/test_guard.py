"""The one rule for output folders and files: nothing medclass did not write is replaced or deleted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medclass.cli.app import run_app
from medclass.runs import MARKER_FILE, prepare_output_dir, prepare_output_file, read_marker
from medclass.utils.errors import RunDirError


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project folder that happens to hold a config.yaml, next to their data and notes."""
    root = tmp_path / "project"
    (root / "data" / "yes").mkdir(parents=True)
    (root / "data" / "yes" / "scan1.png").write_bytes(b"not really a png")
    (root / "config.yaml").write_text("data: {image_size: 64}\n")
    (root / "notes.txt").write_text("three months of notes\n")
    return root


def test_a_new_folder_gets_the_marker(tmp_path: Path) -> None:
    claimed = prepare_output_dir(tmp_path / "run", "run")
    marker = read_marker(claimed.path)
    assert marker is not None and marker["kind"] == "run" and len(marker["id"]) == 32
    assert marker["medclass_version"]


def test_overwrite_refuses_a_folder_without_the_marker_and_deletes_nothing(project: Path) -> None:
    before = _snapshot(project)
    with pytest.raises(RunDirError, match="not a medclass run folder"):
        prepare_output_dir(project, "run", overwrite=True)
    assert _snapshot(project) == before


def test_train_overwrite_on_a_user_project_folder_exits_2_and_keeps_every_file(
    project: Path, image_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(project)
    code = run_app(
        ["train", "--data", str(image_folder), "--out", str(project), "--overwrite", "--epochs", "1"]
    )
    assert code == 2
    assert "not a medclass run folder" in capsys.readouterr().err
    assert _snapshot(project) == before


@pytest.mark.parametrize("where", ["data", "parent", "inside"])
def test_the_data_folder_its_parents_and_its_inside_are_refused(project: Path, where: str) -> None:
    data = project / "data"
    out = {"data": data, "parent": project, "inside": data / "run"}[where]
    before = _snapshot(project)
    for flags in ({}, {"overwrite": True}):
        with pytest.raises(RunDirError, match="data folder"):
            prepare_output_dir(out, "run", protected=[data], **flags)
    assert _snapshot(project) == before
    assert not (data / "run").exists()


def test_overwrite_removes_only_what_a_run_writes(tmp_path: Path) -> None:
    run = prepare_output_dir(tmp_path / "run", "run").path
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "best.ckpt").write_bytes(b"weights")
    (run / "metrics.csv").write_text("epoch\n1\n")
    (run / "my_notes.md").write_text("mine")
    first = read_marker(run)
    claimed = prepare_output_dir(run, "run", overwrite=True)
    assert claimed.kept == ["my_notes.md"]
    assert sorted(p.name for p in run.iterdir()) == sorted([MARKER_FILE, "my_notes.md"])
    assert read_marker(run)["id"] != first["id"]  # a new run


def test_an_existing_run_needs_a_flag_and_another_kind_is_refused(tmp_path: Path) -> None:
    run = prepare_output_dir(tmp_path / "run", "run").path
    (run / "config.yaml").write_text("x: 1\n")
    with pytest.raises(RunDirError, match="--overwrite to replace it, --resume"):
        prepare_output_dir(run, "run")
    assert prepare_output_dir(run, "run", resume=True).continued
    with pytest.raises(RunDirError, match="medclass run folder"):
        prepare_output_dir(run, "tune", reuse=True)
    with pytest.raises(RunDirError, match="exclude each other"):
        prepare_output_dir(run, "run", overwrite=True, resume=True)


def test_reuse_creates_or_continues_and_legacy_folders_get_a_marker(tmp_path: Path) -> None:
    fresh = prepare_output_dir(tmp_path / "study", "tune", reuse=True)
    assert not fresh.continued and read_marker(fresh.path)["kind"] == "tune"
    old = tmp_path / "old_study"
    old.mkdir()
    (old / "trials.csv").write_text("number\n")
    assert prepare_output_dir(old, "tune", reuse=True, legacy=("trials.csv",)).continued
    assert read_marker(old)["kind"] == "tune"
    with pytest.raises(RunDirError, match="nothing to resume"):
        prepare_output_dir(tmp_path / "missing", "run", resume=True)


def test_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "results.txt"
    file.write_text("keep me")
    with pytest.raises(RunDirError, match="is a file, not a folder"):
        prepare_output_dir(file, "run", overwrite=True)
    assert file.read_text() == "keep me"


def test_output_files_are_replaced_only_with_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "splits.csv"
    target.write_text("hand-made splits")
    with pytest.raises(RunDirError, match="already exists; pass --overwrite"):
        prepare_output_file(target)
    assert target.read_text() == "hand-made splits"
    assert prepare_output_file(target, overwrite=True) == target
    with pytest.raises(RunDirError, match="is a folder"):
        prepare_output_file(tmp_path)
    with pytest.raises(RunDirError, match="which is a file"):
        prepare_output_file(target / "out.csv", overwrite=True)
    nested = prepare_output_file(tmp_path / "new" / "deep" / "p.csv")
    assert nested.parent.is_dir() and not nested.exists()


def test_split_does_not_replace_an_existing_splits_csv(
    image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "splits.csv"
    out.write_text("path,label,split\nmine.png,a,train\n")
    assert run_app(["split", str(image_folder), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_text() == "path,label,split\nmine.png,a,train\n"


def test_marker_survives_a_corrupt_file_as_no_marker(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / MARKER_FILE).write_text("{not json")
    assert read_marker(folder) is None
    (folder / MARKER_FILE).write_text(json.dumps({"kind": 3}))
    assert read_marker(folder) is None


def test_inspect_json_needs_overwrite_to_replace_a_file(
    image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    out.write_text("{}")
    assert run_app(["inspect", str(image_folder), "--json", str(out)]) == 2
    assert "--json" in capsys.readouterr().err and out.read_text() == "{}"
    assert run_app(["inspect", str(image_folder), "--json", str(out), "--overwrite"]) == 0
    assert json.loads(out.read_text())["n_files"] == 24
    assert run_app(["inspect", str(image_folder), "--json", str(tmp_path)]) == 2  # a folder
