"""Tiny files that declare huge images, through predict and serve (issue 22): refused from the header, quickly,
with the same message (an unreadable row in predict, 413 in serve)."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import bombs
import pytest
from fastapi.testclient import TestClient

from medclass.api.serve import build_app
from medclass.cli.app import run_app

# Pillow warns of the bombs at open, just before medclass refuses them.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
MESSAGE = bombs.MESSAGE


@pytest.fixture(scope="module")
def bomb_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return bombs.make_all(tmp_path_factory.mktemp("bombs"))


@pytest.fixture(scope="module")
def client(trained_run: Path) -> TestClient:
    with TestClient(build_app(trained_run)) as test_client:
        yield test_client


@pytest.mark.parametrize("name", list(bombs.MAKERS))
def test_serve_answers_413_from_the_header(
    client: TestClient, bomb_files: dict[str, Path], name: str
) -> None:
    upload = [("file", (name, bomb_files[name].read_bytes(), "application/octet-stream"))]
    # Collect what earlier tests left (a trained run's DataLoader iterators join their worker processes, up to
    # 5 s each, when collected): the time measured is the request's.
    gc.collect()
    start = time.perf_counter()
    response = client.post("/v1/predict", files=upload)
    assert time.perf_counter() - start < 3.0
    assert response.status_code == 413
    assert response.json() == {"error": "image_too_large", "detail": MESSAGE, "file": name}


def test_predict_refuses_a_file_given_directly_with_exit_2(
    trained_run: Path, bomb_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like a FIFO given directly: the input itself is refused, one line naming it, nothing written."""
    for path in bomb_files.values():
        out = tmp_path / f"{path.name}.csv"
        start = time.perf_counter()
        assert run_app(["predict", str(trained_run), str(path), "--out", str(out)]) == 2
        assert time.perf_counter() - start < 10.0
        printed = " ".join(capsys.readouterr().err.split())
        assert f"{path.name}: {MESSAGE}" in printed and not out.exists()


def test_predict_gives_a_file_found_in_a_folder_an_unreadable_row(
    trained_run: Path, bomb_files: dict[str, Path], tmp_path: Path
) -> None:
    import pandas as pd

    out = tmp_path / "predictions.csv"
    folder = next(iter(bomb_files.values())).parent
    start = time.perf_counter()
    assert run_app(["predict", str(trained_run), str(folder), "--out", str(out)]) == 0
    assert time.perf_counter() - start < 10.0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table["error"]) == [MESSAGE] * len(bomb_files)


def test_train_skips_it_as_unreadable_with_the_message(
    phantom_data: Path, bomb_files: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    from api.conftest import make_fast_config

    from medclass.api import train
    from medclass.runs.layout import DATA_REPORT_FILE
    from medclass.utils.io import read_json

    data = tmp_path / "data"
    shutil.copytree(phantom_data, data)
    shutil.copy(bomb_files["bomb.dcm"], data / "tumor" / "bomb.dcm")
    out = tmp_path / "run"
    start = time.perf_counter()
    train(make_fast_config(data, out, ["evaluation.report=false"]))
    assert time.perf_counter() - start < 120.0
    skipped = read_json(out / DATA_REPORT_FILE)["skipped"]
    assert [(Path(s["path"]).name, s["reason"]) for s in skipped] == [("bomb.dcm", MESSAGE)]
