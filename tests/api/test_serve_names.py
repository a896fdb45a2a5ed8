"""Uploads are stored under names the server makes: a client's file name (too long, a NUL byte, a path) is only
a label in the answer, sanitised and length-capped, never a path on disk (issue 22)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from medclass.api.serve import build_app
from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictor
from medclass.serving.routes import MAX_LABEL_CHARS


@pytest.fixture(scope="module")
def client(trained_run: Path) -> Iterator[TestClient]:
    with TestClient(build_app(trained_run)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def image(trained_run: Path) -> bytes:
    paths, _ = labelled_files(trained_run, Predictor.load(trained_run).meta, None, "test")
    return Path(paths[0]).read_bytes()


def _post(client: TestClient, filename: str, content: bytes) -> Any:
    """A multipart upload with ``filename`` as sent, byte for byte (httpx would escape a NUL byte as ``%00``)."""
    boundary = "medclass-test-boundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
    head += "Content-Type: image/png\r\n\r\n"
    body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    return client.post("/v1/predict", content=body, headers=headers)


@pytest.mark.parametrize(
    ("sent", "label"),
    [
        ("a" * 300 + ".png", "a" * MAX_LABEL_CHARS),  # over 255 bytes: the file system's limit on a name
        ("\u00e9" * 200 + ".png", "\u00e9" * 200 + ".png"),  # 200 characters, 404 bytes in UTF-8
        ("scan\x00.png", "scan.png"),  # a NUL byte
        ("x\x01\x1f\x7fy.png", "xy.png"),  # control characters
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\scan.png", "scan.png"),
        ("..", "upload-0"),
        ("", "upload-0"),
    ],
)
def test_client_names_are_labels_not_paths(client: TestClient, image: bytes, sent: str, label: str) -> None:
    response = _post(client, sent, image)
    assert response.status_code == 200, response.text
    shown = response.json()["results"][0]["file"]
    assert shown == label
    assert len(shown) <= MAX_LABEL_CHARS and "/" not in shown and "\x00" not in shown


def test_errors_name_the_label(client: TestClient) -> None:
    response = _post(client, "b" * 400 + ".png", b"not an image")
    assert response.status_code == 422, response.text
    assert response.json()["file"] == "b" * MAX_LABEL_CHARS
