"""The Open Inference Protocol (KServe v2) of ``medclass serve`` as real clients speak it: NVIDIA's
``tritonclient[http]`` against a real server process on loopback (server and model metadata and readiness, JSON
and binary tensors), and the answers the spec asks for: a JSON body without a content type is JSON, an output the
model does not have is a 400 naming it, a malformed binary body is a 400 (issue 22)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from requirements_gate import missing
from serve_process import Served, serve_process

from medclass import __version__
from medclass.api.serve import build_app
from medclass.inference.inputs import labelled_files, load_images
from medclass.inference.runner import Predictor

HEADER = "Inference-Header-Content-Length"
KSERVE_PYTHON = "MEDCLASS_KSERVE_PYTHON"  # an interpreter with kserve, for its client


@pytest.fixture(scope="module")
def client(trained_run: Path) -> Iterator[TestClient]:
    with TestClient(build_app(trained_run)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def server(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_process(trained_run, log=tmp_path_factory.mktemp("serve") / "serve.log") as served:
        yield served


@pytest.fixture(scope="module")
def expected(trained_run: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three test images as the model's input tensor, with the probabilities and classes of ``predict``."""
    predictor = Predictor.load(trained_run)
    paths = labelled_files(trained_run, predictor.meta, None, "test")[0][:3]
    images = load_images(paths, predictor.meta)
    tensor = images.tensor(range(len(images.rows)), predictor.meta).numpy()
    result = predictor.predict_files(paths)
    return tensor, result.probs, result.predicted


def _request(array: np.ndarray, outputs: list[str] | None = None) -> dict:
    body: dict = {
        "inputs": [
            {"name": "input", "shape": list(array.shape), "datatype": "FP32", "data": array.ravel().tolist()}
        ]
    }
    if outputs is not None:
        body["outputs"] = [{"name": name} for name in outputs]
    return body


def test_an_unknown_output_is_a_400_naming_it(client: TestClient, trained_run: Path, expected: tuple) -> None:
    url = f"/v2/models/{trained_run.name}/infer"
    for outputs in (["logits"], ["probabilities", "logits"]):
        response = client.post(url, json=_request(expected[0], outputs))
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["error"] == "unknown_output" and "'logits'" in body["detail"]
        assert "probabilities" in body["detail"]  # what there is
    response = client.post(url, json=_request(expected[0], ["prediction"]))
    assert [o["name"] for o in response.json()["outputs"]] == ["prediction"]


def test_a_json_body_without_a_content_type_is_json(
    client: TestClient, trained_run: Path, expected: tuple
) -> None:
    raw = json.dumps(_request(expected[0])).encode()
    response = client.post(f"/v2/models/{trained_run.name}/infer", content=raw)  # no Content-Type header
    assert "content-type" not in response.request.headers
    assert response.status_code == 200, response.text
    probs = next(o for o in response.json()["outputs"] if o["name"] == "probabilities")
    np.testing.assert_allclose(np.reshape(probs["data"], probs["shape"]), expected[1], atol=1e-5)
    other = client.post(
        f"/v2/models/{trained_run.name}/infer", content=raw, headers={"content-type": "text/csv"}
    )
    assert other.status_code == 415 and "text/csv" in other.json()["detail"]


def test_server_metadata_and_model_readiness(client: TestClient, trained_run: Path) -> None:
    meta = client.get("/v2")
    assert meta.status_code == 200, meta.text
    assert meta.json() == {"name": "medclass", "version": __version__, "extensions": ["binary_tensor_data"]}
    ready = client.get(f"/v2/models/{trained_run.name}/ready")
    assert ready.status_code == 200 and ready.json() == {"name": trained_run.name, "ready": True}
    missing = client.get("/v2/models/other/ready")
    assert missing.status_code == 404 and missing.json()["error"] == "model_not_found"


def _binary(array: np.ndarray, size: int | None = None, header: str | None = None) -> tuple[bytes, dict]:
    request = _request(array)
    del request["inputs"][0]["data"]
    request["inputs"][0]["parameters"] = {"binary_data_size": array.nbytes if size is None else size}
    head = json.dumps(request).encode()
    return head + array.astype("<f4").tobytes(), {HEADER: header or str(len(head))}


def test_malformed_binary_bodies_are_400s(client: TestClient, trained_run: Path, expected: tuple) -> None:
    url = f"/v2/models/{trained_run.name}/infer"
    array = expected[0]
    cases = [
        (_binary(array, size=array.nbytes - 4), 400),  # the sizes do not add up to the body
        (_binary(array, header="-1"), 400),
        (_binary(array, header="ten"), 400),
        (_binary(array, header=str(10**9)), 400),  # longer than the body
        ((json.dumps(_request(array)).encode(), {HEADER: "5"}), 422),  # the JSON cut short: invalid, as any
    ]
    for (body, headers), status in cases:
        response = client.post(url, content=body, headers=headers)
        assert response.status_code == status, (headers, response.text)
        assert set(response.json()) == {"error", "detail", "file"}
    body, headers = _binary(array)
    zipped = client.post(url, content=body, headers={**headers, "content-encoding": "gzip"})
    assert zipped.status_code == 415 and "gzip" in zipped.json()["detail"]
    classify = _request(array)
    classify["outputs"] = [{"name": "probabilities", "parameters": {"classification": 2}}]
    refused = client.post(url, json=classify)
    assert refused.status_code == 400 and "classification" in refused.json()["detail"]


def test_tritonclient_against_the_real_server(server: Served, trained_run: Path, expected: tuple) -> None:
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    tensor, probs, predicted = expected
    name = trained_run.name
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"), network_timeout=60.0)
    try:
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(name)
        assert not client.is_model_ready("other")
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
        meta = client.get_model_metadata(name)
        assert meta["inputs"][0]["name"] == "input" and meta["inputs"][0]["datatype"] == "FP32"
        for binary_in in (False, True):
            for binary_out in (None, False, True):  # None: no outputs named (the client asks for binary)
                tensor_in = triton.InferInput("input", list(tensor.shape), "FP32")
                tensor_in.set_data_from_numpy(tensor, binary_data=binary_in)
                outputs = None
                if binary_out is not None:
                    outputs = [
                        triton.InferRequestedOutput(o, binary_data=binary_out)
                        for o in ("probabilities", "prediction")
                    ]
                result = client.infer(name, [tensor_in], outputs=outputs, request_id="r1")
                np.testing.assert_allclose(result.as_numpy("probabilities"), probs, atol=1e-5)
                assert result.as_numpy("prediction").tolist() == predicted.tolist()
                assert result.get_response()["id"] == "r1"
        with pytest.raises(InferenceServerException) as raised:
            client.infer(name, [tensor_in], outputs=[triton.InferRequestedOutput("logits")])
        assert raised.value.status() == "400"
    finally:
        client.close()


@pytest.fixture(scope="session")
def kserve_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Python with KServe's client: ``$MEDCLASS_KSERVE_PYTHON``, else a venv made now with ``pip install kserve``
    (its pins, pandas<3 and protobuf<7, keep it out of the dev environment). Without one the test skips, and in
    CI (``CI=true``) it fails."""
    if os.environ.get(KSERVE_PYTHON):
        return os.environ[KSERVE_PYTHON]
    venv = tmp_path_factory.mktemp("kserve") / "venv"
    steps = (
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "kserve"],
    )
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            missing(f"a venv with KServe's client ({' '.join(step[-2:])} failed: {done.stderr[-300:]})")
    return str(venv / "bin" / "python")


def test_kserve_client_against_the_real_server(
    server: Served, trained_run: Path, expected: tuple, tmp_path: Path, kserve_python: str
) -> None:
    """KServe's ``InferenceRESTClient`` (v2) in a Python of its own (:func:`kserve_python`)."""
    tensor, probs, predicted = expected
    np.save(tmp_path / "tensor.npy", tensor)
    script = Path(__file__).parent / "clients" / "kserve_client.py"
    command = [
        kserve_python,
        str(script),
        server.url,
        trained_run.name,
        str(tmp_path / "tensor.npy"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["live"] and seen["ready"] and seen["model_ready"] and not seen["other_ready"]
    for binary in (False, True):
        answer = seen[f"binary={binary}"]
        np.testing.assert_allclose(answer["probabilities"], probs, atol=1e-5)
        assert answer["prediction"] == predicted.tolist() and answer["id"] == "k1"
    assert seen["unknown_output"] == 400
