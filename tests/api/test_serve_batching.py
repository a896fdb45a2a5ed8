"""Dynamic batching in medclass serve: concurrent requests share forward passes, each gets its own rows back,
a lone request is not held back, and a failing batch fails only its own requests."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from medclass.api import predict
from medclass.api.serve import build_app
from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictor
from medclass.serving.batcher import ModelBatcher
from medclass.serving.settings import ServeSettings


class SlowEcho:
    """A stand-in predictor: probability of class 1 = the input's first pixel; each forward pass takes 50 ms
    and records its batch size."""

    def __init__(self, fail_on: float | None = None) -> None:
        self.batches: list[int] = []
        self.fail_on = fail_on

    def predict_tensor(self, inputs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        self.batches.append(len(inputs))
        time.sleep(0.05)
        first = inputs[:, 0, 0, 0].numpy()
        if self.fail_on is not None and np.isclose(first, self.fail_on).any():
            raise RuntimeError("boom")
        probs = np.stack([1 - first, first], axis=1)
        return probs, (first >= 0.5).astype(np.int64)


def _inputs(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()


def _concurrently(batcher: ModelBatcher, groups: list[list[float]]) -> list[tuple[np.ndarray, np.ndarray]]:
    start = threading.Barrier(len(groups))

    def call(values: list[float]) -> tuple[np.ndarray, np.ndarray]:
        start.wait()
        return batcher.predict_tensor(_inputs(values))

    with ThreadPoolExecutor(len(groups)) as pool:
        return list(pool.map(call, groups))


def test_concurrent_requests_share_batches_and_get_their_own_rows() -> None:
    model = SlowEcho()
    batcher = ModelBatcher(model, max_batch=32)  # type: ignore[arg-type]
    groups = [[i / 10, i / 10 + 0.01] for i in range(8)]  # 8 requests of 2 images each
    try:
        answers = _concurrently(batcher, groups)
    finally:
        batcher.close()
    for values, (probs, predicted) in zip(groups, answers, strict=True):
        np.testing.assert_allclose(probs[:, 1], values, atol=1e-6)
        assert list(predicted) == [int(v >= 0.5) for v in values]
    assert sum(model.batches) == 16
    assert len(model.batches) < 8 and max(model.batches) > 2  # some requests ran together


def test_max_batch_caps_a_pass_and_one_means_no_batching() -> None:
    model = SlowEcho()
    batcher = ModelBatcher(model, max_batch=1)  # type: ignore[arg-type]
    try:
        _concurrently(batcher, [[0.1], [0.2], [0.3], [0.4]])
    finally:
        batcher.close()
    assert model.batches == [1, 1, 1, 1]
    model = SlowEcho()
    batcher = ModelBatcher(model, max_batch=4)  # type: ignore[arg-type]
    try:
        _concurrently(batcher, [[0.1, 0.2, 0.3]] * 6)
    finally:
        batcher.close()
    assert max(model.batches) <= 4 and sum(model.batches) == 18  # 3 + 3 would exceed 4: never joined


def test_a_lone_request_does_not_wait() -> None:
    model = SlowEcho()
    batcher = ModelBatcher(model, max_batch=32, max_wait_ms=0)  # type: ignore[arg-type]
    try:
        start = time.perf_counter()
        batcher.predict_tensor(_inputs([0.7]))
        elapsed = time.perf_counter() - start
    finally:
        batcher.close()
    assert model.batches == [1] and elapsed < 0.5


def test_a_failing_batch_fails_its_requests_and_the_batcher_goes_on() -> None:
    model = SlowEcho(fail_on=0.9)
    batcher = ModelBatcher(model, max_batch=1)  # type: ignore[arg-type]
    try:
        with pytest.raises(RuntimeError, match="boom"):
            batcher.predict_tensor(_inputs([0.9]))
        probs, _ = batcher.predict_tensor(_inputs([0.2]))
    finally:
        batcher.close()
    np.testing.assert_allclose(probs[:, 1], [0.2], atol=1e-6)


def test_concurrent_uploads_are_batched_and_equal_medclass_predict(trained_run: Path) -> None:
    paths, _ = labelled_files(trained_run, Predictor.load(trained_run).meta, None, "test")
    paths = paths[:8]
    expected = predict(trained_run, paths)
    app = build_app(trained_run, settings=ServeSettings(max_batch=32, batch_wait_ms=200))
    with TestClient(app) as client:

        def post(path: str) -> dict:
            upload = [("file", (Path(path).name, Path(path).read_bytes(), "application/octet-stream"))]
            response = client.post("/v1/predict", files=upload)
            assert response.status_code == 200, response.text
            return response.json()["results"][0]

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(post, paths))
        sizes = list(app.state.batcher.batch_sizes)
        metrics = client.get("/metrics").text
    assert [r["prediction"] for r in results] == list(expected["prediction"])
    for result, (_, row) in zip(results, expected.iterrows(), strict=True):
        for name, p in result["probabilities"].items():
            assert abs(p - row[f"p_{name}"]) < 1e-5
    assert sum(sizes) == 8 and max(sizes) > 1, sizes  # a 200 ms window lets concurrent uploads meet
    assert "medclass_batch_images_count 8.0" not in metrics and "medclass_batch_images_sum 8.0" in metrics
