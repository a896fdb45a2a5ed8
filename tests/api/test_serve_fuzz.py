"""The HTTP API fuzzed with schemathesis from the OpenAPI schema that ``medclass serve`` publishes, over loopback:
valid and invalid requests to every operation, a bounded number of examples each, and not one 5xx answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from serve_process import Served, serve_process

# Per operation and generation mode (valid, invalid): 8 operations x 2 x 15 stays under a minute on 2 cores.
EXAMPLES = 15


@pytest.fixture(scope="module")
def server(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_process(trained_run, log=tmp_path_factory.mktemp("serve") / "serve.log") as served:
        yield served


def test_no_server_errors(server: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/predict", "/v2/models/{name}/infer", "/v1/model"}
    seen: list[tuple[str, int]] = []
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: schemathesis.Case) -> None:
                response = case.call(base_url=server.url, timeout=60)
                seen.append((case.operation.label, response.status_code))
                assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
                if response.status_code >= 400:  # every client error in the one JSON shape
                    assert {"error", "detail", "file"} <= set(response.json()), response.text[:500]

            try:
                fuzz()
            except Unsatisfiable:  # an operation without parameters (GET /healthz) has no invalid request
                assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
    assert {label for label, _ in seen} == {op.label for op in operations}  # every operation was called
