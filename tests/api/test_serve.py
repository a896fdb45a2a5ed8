"""medclass serve: /v1/predict equals medclass predict, one error shape and no 5xx for bad input, auth, the Open
Inference Protocol (driven by a client written from the KServe v2 spec), metrics and the page."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from medclass.api import predict
from medclass.api.export import export
from medclass.api.serve import build_app
from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictor
from medclass.serving.settings import ServeSettings

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def client(trained_run: Path) -> Iterator[TestClient]:
    with TestClient(build_app(trained_run)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def test_files(trained_run: Path) -> list[str]:
    paths, _ = labelled_files(trained_run, Predictor.load(trained_run).meta, None, "test")
    return paths[:4]


def _upload(paths: list[str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", (Path(p).name, Path(p).read_bytes(), "application/octet-stream")) for p in paths]


def test_predict_matches_the_cli_path(client: TestClient, trained_run: Path, test_files: list[str]) -> None:
    response = client.post("/v1/predict", files=_upload(test_files))
    assert response.status_code == 200, response.text
    body = response.json()
    expected = predict(trained_run, test_files)
    assert [r["file"] for r in body["results"]] == [Path(p).name for p in test_files]
    assert [r["prediction"] for r in body["results"]] == list(expected["prediction"])
    for result, (_, row) in zip(body["results"], expected.iterrows(), strict=True):
        for name, p in result["probabilities"].items():
            assert abs(p - row[f"p_{name}"]) < 1e-5


def test_explain_and_mc_dropout(client: TestClient, test_files: list[str]) -> None:
    body = client.post("/v1/predict?explain=gradcam&mc_dropout=3", files=_upload(test_files[:1])).json()
    result = body["results"][0]
    assert result["passes"] == 3 and result["entropy"] is not None and result["uncertain"] in (True, False)
    import base64

    from PIL import Image

    heat = Image.open(io.BytesIO(base64.b64decode(result["gradcam"])))
    assert heat.mode == "RGBA" and heat.size[0] > 0
    assert Image.open(io.BytesIO(base64.b64decode(result["image"]))).size == heat.size


@pytest.mark.parametrize(
    ("files", "status", "error"),
    [
        ([("file", ("notes.png", b"this is not an image", "image/png"))], 422, "unreadable_image"),
        ([("file", ("empty.png", b"", "image/png"))], 400, "empty_file"),
        (
            [("file", ("cut.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00", "image/png"))],
            422,
            "unreadable_image",
        ),
    ],
)
def test_bad_uploads_get_one_json_error(client: TestClient, files: list, status: int, error: str) -> None:
    response = client.post("/v1/predict", files=files)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error and body["file"] == files[0][1][0] and body["detail"]


def test_request_errors_are_4xx(client: TestClient, test_files: list[str]) -> None:
    assert client.post("/v1/predict").status_code == 422
    assert client.post("/v1/predict", content=b"x", headers={"content-type": "text/plain"}).status_code == 422
    too_many = _upload(test_files[:1]) * 17
    assert client.post("/v1/predict", files=too_many).json()["error"] == "too_many_files"
    assert client.post("/v1/predict?explain=lime", files=_upload(test_files[:1])).status_code == 400
    assert client.post("/v1/predict?mc_dropout=-1", files=_upload(test_files[:1])).status_code == 422


def test_size_limits(trained_run: Path, test_files: list[str]) -> None:
    with TestClient(build_app(trained_run, settings=ServeSettings(max_file_bytes=100))) as small:
        response = small.post("/v1/predict", files=_upload(test_files[:1]))
    assert response.status_code == 413 and response.json()["error"] == "file_too_large"
    with TestClient(build_app(trained_run, settings=ServeSettings(max_pixels=10))) as small:
        response = small.post("/v1/predict", files=_upload(test_files[:1]))
    assert response.status_code == 413 and response.json()["error"] == "image_too_large"


def test_auth_guards_everything_but_health(trained_run: Path, test_files: list[str]) -> None:
    with TestClient(build_app(trained_run, settings=ServeSettings(api_key=TOKEN))) as guarded:
        for path in ("/healthz", "/readyz", "/v2/health/ready"):
            assert guarded.get(path).status_code == 200
        for path in ("/v1/model", "/metrics", "/", "/docs", "/openapi.json"):
            assert guarded.get(path).status_code == 401, path
        assert guarded.post("/v1/predict", files=_upload(test_files[:1])).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert guarded.get("/v1/model", headers=wrong).json()["error"] == "unauthorized"
        right = {"Authorization": f"Bearer {TOKEN}"}
        assert guarded.get("/v1/model", headers=right).status_code == 200
        assert guarded.post("/v1/predict", files=_upload(test_files[:1]), headers=right).status_code == 200


def test_access_log_has_no_token(trained_run: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    app = build_app(trained_run, settings=ServeSettings(api_key=TOKEN))
    with TestClient(app) as guarded, caplog.at_level(logging.INFO, logger="medclass.serve.access"):
        guarded.get("/v1/model", headers={"Authorization": f"Bearer {TOKEN}"})
    lines = [r.getMessage() for r in caplog.records if r.name == "medclass.serve.access"]
    assert lines and all(TOKEN not in line for line in lines) and '"status": 200' in lines[-1]


class SpecClient:
    """A minimal Open Inference Protocol (KServe v2 REST) client, written from the published spec."""

    def __init__(self, http: TestClient) -> None:
        self.http = http

    def ready(self) -> bool:
        return self.http.get("/v2/health/ready").json()["ready"]

    def metadata(self, model: str) -> dict:
        return self.http.get(f"/v2/models/{model}").json()

    def infer(self, model: str, array: np.ndarray) -> dict[str, np.ndarray]:
        request = {
            "inputs": [
                {
                    "name": "input",
                    "shape": list(array.shape),
                    "datatype": "FP32",
                    "data": array.ravel().tolist(),
                }
            ]
        }
        reply = self.http.post(f"/v2/models/{model}/infer", json=request)
        reply.raise_for_status()
        return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in reply.json()["outputs"]}


def test_open_inference_protocol(client: TestClient, trained_run: Path, test_files: list[str]) -> None:
    oip = SpecClient(client)
    name = trained_run.resolve().name
    assert oip.ready()
    meta = oip.metadata(name)
    assert meta["inputs"][0]["datatype"] == "FP32" and meta["inputs"][0]["shape"][0] == -1
    predictor = Predictor.load(trained_run)
    from medclass.inference.inputs import load_images

    images = load_images(test_files, predictor.meta)
    tensor = images.tensor(range(len(images.rows)), predictor.meta)
    outputs = oip.infer(name, tensor.numpy())
    expected = predictor.predict_files(test_files)
    np.testing.assert_allclose(outputs["probabilities"], expected.probs, atol=1e-5)
    assert outputs["prediction"].tolist() == expected.predicted.tolist()
    assert client.post("/v2/models/other/infer", json={"inputs": []}).status_code == 404
    bad = {"inputs": [{"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [0, 0, 0, 0]}]}
    assert client.post(f"/v2/models/{name}/infer", json=bad).json()["error"] == "invalid_tensor"


def test_metrics_page_and_model(client: TestClient) -> None:
    client.get("/healthz")
    assert "medclass_requests_total" in client.get("/metrics").text
    page = client.get("/").text
    assert "v1/predict" in page and "http://" not in page and "https://" not in page
    info = client.get("/v1/model").json()
    assert info["classes"] and info["backend"]


def test_onnx_backend_serves_the_same_decisions(
    trained_run: Path, test_files: list[str], tmp_path: Path
) -> None:
    bundle = export(trained_run, "onnx", out=tmp_path / "bundle")["path"]
    with TestClient(build_app(bundle)) as onnx_client:
        body = onnx_client.post("/v1/predict", files=_upload(test_files)).json()
        assert (
            onnx_client.post("/v1/predict?explain=gradcam", files=_upload(test_files[:1])).status_code == 400
        )
    assert [r["prediction"] for r in body["results"]] == list(predict(trained_run, test_files)["prediction"])
