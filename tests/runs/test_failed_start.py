"""A start that fails before its first checkpoint leaves nothing a rerun trips over; nothing else is removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from medclass.runs import RunLayout, prepare_output_dir, removed_if_unstarted


def _started(path: Path) -> bool:
    return RunLayout(path).has_checkpoint()


def _fail_in(claimed_path: Path, exc: BaseException, lines: list[str], **claim: bool) -> None:
    claimed = prepare_output_dir(claimed_path, "run", **claim)
    with pytest.raises(type(exc)), removed_if_unstarted(claimed, _started, lines.append):
        (claimed_path / "splits.csv").write_text("path,label,split\n")
        (claimed_path / "tensorboard").mkdir(exist_ok=True)
        raise exc


@pytest.mark.parametrize("exc", [ValueError("bad"), KeyboardInterrupt(), SystemExit(1)])
def test_a_folder_the_start_created_is_removed(tmp_path: Path, exc: BaseException) -> None:
    lines: list[str] = []
    _fail_in(tmp_path / "runs" / "r", exc, lines)
    assert not (tmp_path / "runs" / "r").exists()
    assert len(lines) == 1 and str(tmp_path / "runs" / "r") in lines[0]
    prepare_output_dir(tmp_path / "runs" / "r", "run")  # the same start is accepted again


def test_an_empty_folder_that_was_there_is_emptied_not_removed(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    _fail_in(tmp_path / "r", KeyboardInterrupt(), [])
    assert (tmp_path / "r").is_dir() and not any((tmp_path / "r").iterdir())


def test_a_started_run_is_kept(tmp_path: Path) -> None:
    claimed = prepare_output_dir(tmp_path / "r", "run")
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt), removed_if_unstarted(claimed, _started, lines.append):
        RunLayout(claimed.path).checkpoints.mkdir()
        RunLayout(claimed.path).last_checkpoint.write_bytes(b"ckpt")
        raise KeyboardInterrupt
    assert RunLayout(tmp_path / "r").last_checkpoint.is_file() and not lines


@pytest.mark.parametrize("claim", [{"overwrite": True}, {"resume": True}])
def test_a_folder_that_held_a_run_is_never_removed(tmp_path: Path, claim: dict[str, bool]) -> None:
    prepare_output_dir(tmp_path / "r", "run")
    (tmp_path / "r" / "notes.txt").write_text("mine\n")
    lines: list[str] = []
    _fail_in(tmp_path / "r", RuntimeError("boom"), lines, **claim)
    assert (tmp_path / "r" / "notes.txt").is_file() and not lines


def test_success_keeps_the_folder(tmp_path: Path) -> None:
    claimed = prepare_output_dir(tmp_path / "r", "run")
    with removed_if_unstarted(claimed, _started, print):
        pass
    assert (tmp_path / "r").is_dir()
