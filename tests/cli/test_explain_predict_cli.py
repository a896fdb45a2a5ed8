"""``medclass explain`` and ``medclass predict --mc-dropout/--tta/--flag-uncertain`` through run_app."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medclass.cli.app import run_app


@pytest.fixture(scope="module")
def run(phantom_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from api.conftest import make_fast_config

    from medclass.api import train

    out = tmp_path_factory.mktemp("cli-explain") / "run"
    train(make_fast_config(phantom_data, out, ["evaluation.report=false"]))
    return out


def _plain(text: str) -> str:
    return " ".join(re.sub(r"\x1b\[[0-9;]*m|[│╭╮╰╯─]", " ", text).split())


def test_explain_writes_files_named_after_the_inputs(
    run: Path, phantom_data: Path, tmp_path: Path, capsys
) -> None:
    images = sorted((phantom_data / "tumor").glob("*.png"))[:2]
    out = tmp_path / "ig"
    args = ["explain", str(run), *map(str, images), "--method", "integrated-gradients", "--out", str(out)]
    assert run_app([*args, "--target", "no_tumor"]) == 0
    for image in images:
        assert (out / f"{image.stem}.png").is_file()
        assert np.load(out / f"{image.stem}.npy").shape == (32, 32)
    index = pd.read_csv(out / "explanations.csv")
    assert list(index["target"]) == ["no_tumor", "no_tumor"]
    assert list(index["layer"]) == ["input", "input"]
    assert f"2 explanation(s) (integrated-gradients at layer input) written to {out}" in _plain(
        capsys.readouterr().out
    )


def test_explain_layer_override_and_errors_exit_2(
    run: Path, phantom_data: Path, tmp_path: Path, capsys
) -> None:
    image = str(sorted((phantom_data / "tumor").glob("*.png"))[0])
    out = tmp_path / "cam"
    assert run_app(["explain", str(run), image, "--layer", "features.block1.act", "--out", str(out)]) == 0
    assert pd.read_csv(out / "explanations.csv")["layer"].tolist() == ["features.block1.act"]
    assert "features.block1.act" in _plain(capsys.readouterr().out)
    assert run_app(["explain", str(run), image, "--method", "lime", "--out", str(tmp_path / "a")]) == 2
    assert "--method 'lime': expected one of gradcam, gradcam++" in _plain(capsys.readouterr().err)
    assert (
        run_app(["explain", str(run), image, "--layer", "features.nope", "--out", str(tmp_path / "b")]) == 2
    )
    assert "--layer 'features.nope'" in _plain(capsys.readouterr().err)
    saliency = ["--method", "saliency", "--layer", "features.block1.act", "--out", str(tmp_path / "c")]
    assert run_app(["explain", str(run), image, *saliency]) == 2
    assert "--layer applies to CAMs and feature-maps" in _plain(capsys.readouterr().err)


def test_explain_target_and_contrast_give_different_maps(
    run: Path, phantom_data: Path, tmp_path: Path, capsys
) -> None:
    image = str(sorted((phantom_data / "tumor").glob("*.png"))[0])
    maps = {}
    for target in ("tumor", "no_tumor"):
        out = tmp_path / target
        assert (
            run_app(
                ["explain", str(run), image, "--method", "gradcam", "--target", target, "--out", str(out)]
            )
            == 0
        )
        index = pd.read_csv(out / "explanations.csv")
        assert list(index["target"]) == [target]
        maps[target] = np.load(out / index["map"].iloc[0])
    assert not np.allclose(maps["tumor"], maps["no_tumor"], atol=1e-3)
    out = tmp_path / "contrast"
    args = ["--method", "gradcam", "--target", "tumor", "--contrast", "no_tumor", "--out", str(out)]
    assert run_app(["explain", str(run), image, *args]) == 0
    assert list(pd.read_csv(out / "explanations.csv")["target"]) == ["tumor vs no_tumor"]
    args = ["--target", "tumor", "--contrast", "tumor", "--out", str(tmp_path / "same")]
    assert run_app(["explain", str(run), image, *args]) == 2
    assert "--contrast 'tumor': the class explained against must differ" in _plain(capsys.readouterr().err)
    assert run_app(["explain", str(run), image, "--contrast", "lung", "--out", str(tmp_path / "x")]) == 2
    assert "--contrast 'lung': not a class of the model" in _plain(capsys.readouterr().err)
    # --target true: each image's true class, from the folder it sits in (a wrong prediction's missed evidence).
    other = str(sorted((phantom_data / "no_tumor").glob("*.png"))[0])
    out = tmp_path / "true"
    assert run_app(["explain", str(run), image, other, "--target", "true", "--out", str(out)]) == 0
    assert list(pd.read_csv(out / "explanations.csv")["target"]) == ["tumor", "no_tumor"]
    loose = tmp_path / "loose" / "scan.png"
    loose.parent.mkdir()
    loose.write_bytes(Path(image).read_bytes())
    assert run_app(["explain", str(run), str(loose), "--target", "true", "--out", str(tmp_path / "y")]) == 2
    error = _plain(capsys.readouterr().err)
    assert "--target true:" in error and "is not in a folder named after a class" in error


def test_explain_help_lists_the_contract(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "240")  # a wide terminal: no method name is wrapped at its hyphen
    assert run_app(["explain", "--help"]) == 0
    text = _plain(capsys.readouterr().out)
    for flag in (
        "--method",
        "--target",
        "--out",
        "--layer",
        "--sanity",
        "--shuffled-model",
        "--contrast",
        "gradcam++",
        "integrated-gradients",
        "feature-maps",
    ):
        assert flag in text


def test_predict_with_uncertainty_flags(run: Path, phantom_data: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for image in sorted((phantom_data / "tumor").glob("*.png"))[:3]:
        (folder / image.name).write_bytes(image.read_bytes())
    (folder / "zz_broken.png").write_bytes(b"oops")
    out = tmp_path / "pred.csv"
    args = ["predict", str(run), str(folder), "--out", str(out)]
    assert run_app([*args, "--mc-dropout", "4", "--tta", "2", "--flag-uncertain", "0.0"]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert {"entropy", "std", "uncertain"} <= set(table.columns)
    assert table["error"].iloc[-1] != "" and (table["error"].iloc[:3] == "").all()
    printed = _plain(capsys.readouterr().out)
    assert "4 rows (1 unreadable)" in printed and "3 prediction(s) flagged uncertain" in printed


def test_predict_refuses_negative_passes(run: Path, phantom_data: Path, capsys) -> None:
    image = str(sorted((phantom_data / "tumor").glob("*.png"))[0])
    assert run_app(["predict", str(run), image, "--mc-dropout", "-1"]) == 2
    assert "--mc-dropout" in _plain(capsys.readouterr().err)
