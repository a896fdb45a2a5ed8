"""Dynamic batching of concurrent requests: one forward pass for the images of every request that is waiting.

Requests decode and preprocess their files in their own threads, then hand the model inputs to
:class:`ModelBatcher`. One thread runs the model: it takes the first waiting request, adds every other request
already waiting (up to ``max_batch`` images, waiting at most ``max_wait_ms`` for more), runs them as one batch
and hands each request its own rows. With one request at a time nothing waits, so batching adds no latency to a
lone client. Written here because the serving stack has no such piece: Triton and TorchServe batch inside
their own servers, and FastAPI/uvicorn leave it to the application.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
import torch

from medclass.inference.inputs import load_images
from medclass.inference.runner import Predictions, Predictor


@dataclass
class _Job:
    inputs: torch.Tensor
    result: Future[tuple[np.ndarray, np.ndarray]] = field(default_factory=Future)


class ModelBatcher:
    """Runs ``predictor``'s plain forward passes for concurrent callers in shared batches.

    Attributes:
        lock: held while the model runs; other users of the model (MC dropout, Grad-CAM) take it too.
        batch_sizes: images per forward pass so far (the last 1,000), for the tests and ``/metrics``.
    """

    def __init__(
        self,
        predictor: Predictor,
        max_batch: int = 32,
        max_wait_ms: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.predictor, self.max_batch, self.max_wait = predictor, max(1, max_batch), max_wait_ms / 1000
        self.lock = threading.Lock()
        self.batch_sizes: list[int] = []
        self._on_batch = on_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="medclass-batcher", daemon=True)
        self._thread.start()

    def predict_tensor(self, inputs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(probs, predicted)`` of ``inputs`` ``(N, C, H, W)``, run together with other waiting requests."""
        if len(inputs) == 0:
            return self.predictor.predict_tensor(inputs)
        job = _Job(inputs)
        self._queue.put(job)
        return job.result.result()

    def predict_files(self, paths: Sequence[str], cache_dir: str | None = None) -> Predictions:
        """:meth:`Predictor.predict_files` without passes: preprocessing here, the forward pass batched."""
        images = load_images(paths, self.predictor.meta, cache_dir=cache_dir)
        if not images.rows:  # nothing readable: no forward pass
            empty = np.zeros((0, len(self.predictor.classes)), dtype=np.float32)
            return Predictions(images.paths, empty, np.zeros(0, dtype=np.int64), images.failures)
        inputs = images.tensor(range(len(images.rows)), self.predictor.meta)
        probs, predicted = self.predict_tensor(inputs)
        return Predictions(images.paths, probs, predicted, images.failures)

    def close(self) -> None:
        """Stop the model thread once the waiting requests are answered."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _gather(self, first: _Job) -> tuple[list[_Job], bool]:
        """``first`` plus the jobs waiting (or arriving within ``max_wait``) up to ``max_batch`` images;
        the flag says a stop was asked for."""
        jobs, count = [first], len(first.inputs)
        deadline = time.monotonic() + self.max_wait
        while count < self.max_batch:
            try:
                job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            if count + len(job.inputs) > self.max_batch:  # too big to join: it starts the next batch
                self._queue.put(job)  # SimpleQueue has no put-front; order among the waiting is not promised
                break
            jobs.append(job)
            count += len(job.inputs)
        return jobs, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            jobs, stop = self._gather(first)
            try:
                with self.lock:
                    probs, predicted = self.predictor.predict_tensor(torch.cat([j.inputs for j in jobs]))
            except Exception as exc:  # every waiting request learns of it; the thread goes on
                for job in jobs:
                    job.result.set_exception(exc)
                continue
            self.batch_sizes = [*self.batch_sizes[-999:], len(probs)]
            if self._on_batch:
                self._on_batch(len(probs))
            start = 0
            for job in jobs:
                end = start + len(job.inputs)
                job.result.set_result((probs[start:end], predicted[start:end]))
                start = end
