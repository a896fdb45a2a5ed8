"""``medclass inspect`` and ``medclass split`` end to end through run_app."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
from rich.console import Console

from medclass.api.data import inspect, print_split_counts
from medclass.cli.app import run_app


def test_inspect_prints_and_writes_json(image_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report.json"
    assert run_app(["inspect", str(image_folder), "--json", str(out), "--near-dup-distance", "4"]) == 0
    report = json.loads(out.read_text())
    assert report["duplicates"]["near_distance"] == 4
    assert report["counts"] == {"all": {"benign": 12, "malignant": 12}}
    printed = capsys.readouterr().out
    assert "Images per class" in printed and str(out) in printed.replace("\n", "")


def test_inspect_bad_folder_exits_2_with_a_message(tmp_path: Path, capsys) -> None:
    assert run_app(["inspect", str(tmp_path / "missing")]) == 2
    assert "missing: no such file or folder" in " ".join(capsys.readouterr().err.split())


def test_inspect_rejects_a_bad_distance(image_folder: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the message on one line
    assert run_app(["inspect", str(image_folder), "--near-dup-distance", "99"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "'--near-dup-distance': Input should be less than or equal to 64" in err


def test_split_writes_csv_with_flags(image_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "splits.csv"
    code = run_app(
        ["split", str(image_folder), "--out", str(out), "--strategy", "kfold", "--folds", "3",
         "--test-frac", "0.25", "--seed", "3"]
    )  # fmt: skip
    assert code == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["path", "label", "split", "fold"]
    assert len(table) == 24 and (table["split"] == "test").sum() == 6
    assert set(table["fold"].dropna().astype(int)) == {0, 1, 2}
    printed = capsys.readouterr().out.replace("\n", "")
    assert "fold 0" in printed and str(out) in printed


def test_split_config_and_set_resolve_like_flags(image_folder: Path, tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(
        f"seed: 11\ndata:\n  path: {image_folder}\nsplit:\n  strategy: stratified\n  test_frac: 0.5\n"
    )
    by_yaml = tmp_path / "a.csv"
    assert (
        run_app(["split", "--config", str(config), "--out", str(by_yaml), "--set", "split.val_frac=0.25"])
        == 0
    )
    by_flags = tmp_path / "b.csv"
    flags = ["split", str(image_folder), "--out", str(by_flags), "--test-frac", "0.5", "--val-frac", "0.25"]
    assert run_app([*flags, "--seed", "11"]) == 0  # split.seed defaults to the run's seed (11 in the YAML)
    first, second = pd.read_csv(by_yaml), pd.read_csv(by_flags)
    assert (first["split"] == "test").sum() == 12 and (first["split"] == "val").sum() == 6
    pd.testing.assert_frame_equal(first, second)


def test_split_bad_folder_exits_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert run_app(["split", str(tmp_path / "empty"), "--out", str(tmp_path / "s.csv")]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()


def test_split_bad_value_names_the_key(image_folder: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert run_app(["split", str(image_folder), "--out", str(tmp_path / "s.csv"), "--strategy", "magic"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "'--strategy': Input should be 'auto', 'stratified'" in err


def test_the_split_counts_table_has_totals() -> None:
    table = pd.DataFrame(
        {
            "path": list("abcdefg"),
            "label": [*"xxxx", *"yyy"],
            "split": ["train", "val", "test", "train", "train", "val", "test"],
        }
    )
    console = Console(record=True, width=100, file=io.StringIO())
    print_split_counts(table, "stratified", console)
    lines = console.export_text().splitlines()
    assert "Split (stratified)" in lines[0]
    rows = {line.split()[1]: re.findall(r"\d+", line) for line in lines if line.startswith("│")}
    assert rows["x"] == ["2", "1", "1", "4"] and rows["y"] == ["1", "1", "1", "3"]
    assert rows["total"] == ["3", "2", "2", "7"]


def test_the_api_prints_the_report_only_to_a_given_console(image_folder: Path, capsys) -> None:
    report = inspect(image_folder)
    assert report["counts"] == {"all": {"benign": 12, "malignant": 12}}
    assert capsys.readouterr().out == ""
    console = Console(record=True, width=120, file=io.StringIO())
    assert inspect(image_folder, console=console)["counts"] == report["counts"]
    assert "Images per class" in console.export_text()
