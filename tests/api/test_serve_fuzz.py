"""The HTTP API fuzzed with schemathesis from the OpenAPI schema that ``medclass serve`` publishes, over loopback:
valid and invalid requests to every operation, a bounded number of examples each, and not one 5xx answer.

Custom strategies go where the schema says little: the uploads' file names (very long, NUL and control
characters, unicode, ``../`` traversal) and contents (the mutated image files of ``tests/fuzz``), and Open
Inference Protocol bodies (shapes, data, binary tensors and their header). Their answers are checked against the
schema by schemathesis. ``HYPOTHESIS_PROFILE=fuzz`` (``make fuzz``) runs many more examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from fuzz.mutations import FUZZ, any_image_file, budget, intact_image_file
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from serve_process import Served, serve_process

from medclass.config.schema import IMAGE_EXTENSIONS


@schemathesis.serializer("multipart/related")
def _multipart_related(ctx: schemathesis.SerializationContext, value: object) -> bytes:
    """The STOW-RS body (``multipart/related; type="application/dicom"``) as schemathesis generates it: raw bytes
    sent as they are, anything else as its JSON (hostile bodies either way: no boundary, no DICOM)."""
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else json.dumps(value, default=str).encode()


# Per operation and generation mode (valid, invalid): 8 operations x 2 x 15 stays under a minute on 2 cores.
EXAMPLES = 15
# The tests share one server (module fixture): one worker runs them all (make test runs --dist loadgroup).
pytestmark = pytest.mark.xdist_group("serve_fuzz")


@pytest.fixture(scope="module")
def server(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_process(trained_run, log=tmp_path_factory.mktemp("serve") / "serve.log") as served:
        yield served


def test_no_server_errors(server: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/v1/predict",
        "/v2/models/{name}/infer",
        "/v1/model",
        "/dicomweb/studies",
    }
    seen: list[tuple[str, int]] = []
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=settings.get_profile("fuzz").max_examples // 10 if FUZZ else EXAMPLES,
                deadline=None,
                derandomize=not FUZZ,
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


SCHEMA_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
HOSTILE_NAMES = [
    "../../../../etc/passwd.png",
    "..\\..\\windows\\win.ini.dcm",
    "/abs/scan.nii.gz",
    "scan\x00.png",
    "\x00",
    "a\r\nX-Injected: 1.png",
    "\x1b[31mred.jpg",
    "..",
    ".",
    "",
    " ",
    "ñandú-検査-🩻.png",
    "\u202egnp.exe",
    "CON.png",
    "a/../../b.nii",
]
filenames = st.one_of(
    st.sampled_from(HOSTILE_NAMES),
    st.text(max_size=40),
    st.builds(lambda n, c: c * n, st.integers(256, 5000), st.sampled_from("a/é.\x00")),
)


@st.composite
def uploads(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    """1 to 3 ``(file name, content)``: a hostile name, most often ending in the file's own suffix (the
    readers choose by it), some with another image suffix; the content an intact or a mutated image."""
    files = []
    for _ in range(draw(st.integers(1, 3))):
        suffix, data = draw(st.one_of(intact_image_file(), any_image_file()))
        name = draw(filenames)
        ending = draw(st.sampled_from((suffix, suffix, suffix, "", *IMAGE_EXTENSIONS)))
        files.append((name + ending, data))
    return files


def _case(server: Served, path: str, **parameters) -> schemathesis.Case:
    """A POST of ``path`` whose answers schemathesis checks against the schema."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    return schema[path]["POST"].Case(path_parameters=parameters or None)


def _post(url: str, **kwargs) -> httpx.Response:
    """POST with the request body read in full (schemathesis reads it back to validate the answer)."""
    with httpx.Client(timeout=120) as client:
        request = client.build_request("POST", url, **kwargs)
        request.read()
        return client.send(request)


def _check_error_shape(response: httpx.Response) -> None:
    if response.status_code >= 400:  # every client error in the one JSON shape
        assert {"error", "detail", "file"} <= set(response.json()), response.text[:500]


def test_uploads_with_hostile_names_and_mutated_images(server: Served) -> None:
    case = _case(server, "/v1/predict")
    statuses: list[int] = []

    @budget(30)
    @given(files=uploads())
    def fuzz(files: list[tuple[str, bytes]]) -> None:
        multipart = [("file", (name, data, "application/octet-stream")) for name, data in files]
        response = _post(f"{server.url}/v1/predict", files=multipart)
        statuses.append(response.status_code)
        case.validate_response(response, checks=SCHEMA_CHECKS)
        _check_error_shape(response)
        labels = [r["file"] for r in response.json()["results"]] if response.status_code == 200 else []
        labels += [response.json().get("file")] if response.status_code >= 400 else []
        for label in filter(None, labels):  # only a label: no folder, no control character, bounded
            assert not {"/", "\\", "\x00"} & set(label) and label.isprintable() and len(label) <= 255, label

    fuzz()
    assert 200 in statuses and any(400 <= s < 500 for s in statuses), statuses


HEADER = "Inference-Header-Content-Length"
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**400, -(10**400)]),  # JSON integers beyond any float
    st.booleans(),
    st.sampled_from(["0.5", "nan", None, [], {}, [1.0]]),
)


@st.composite
def oip_requests(draw: st.DrawFn, channels: int, size: int) -> tuple[dict, bytes, dict[str, bytes]]:
    """``(JSON body, binary tail, headers)``: an Open Inference Protocol request, valid (half of them) or with
    any of its parts broken: shape, datatype, name, data, binary sizes, outputs, the binary header's length."""
    valid = draw(st.booleans())

    def pick(good, bad: st.SearchStrategy):
        return good if valid or draw(st.booleans()) else draw(bad)

    shape = pick(
        [draw(st.integers(1, 3)), channels, size, size],
        st.one_of(
            st.lists(st.integers(-(2**40), 2**40), max_size=5),
            st.sampled_from([[0, channels, size, size], [257, channels, size, size], [1, channels, size]]),
        ),
    )
    count = min(4 * channels * size * size, abs(shape[0]) * channels * size * size) if shape else 0
    tensor: dict = {
        "name": pick("input", st.sampled_from(["x", ""])),
        "shape": shape,
        "datatype": pick("FP32", st.sampled_from(["INT64", "BYTES", "fp32"])),
    }
    tail, binary = b"", draw(st.booleans())
    if binary:
        tail = pick(b"\x00\x00\x80\x3f" * count, st.sampled_from([b"\x00\x00\xc0\x7f" * count, b"\x01\x02"]))
        tensor["parameters"] = {
            "binary_data_size": pick(len(tail), st.sampled_from([len(tail) + 1, -1, "8"]))
        }
    else:
        tensor["data"] = [0.25] * count
        if count and not valid and draw(st.booleans()):
            tensor["data"][draw(st.integers(0, count - 1))] = draw(numbers)
        elif not valid and draw(st.booleans()):
            tensor["data"] = draw(st.lists(numbers, max_size=8))
    body: dict = {"inputs": pick([tensor], st.sampled_from([[tensor, tensor], []]))}
    if draw(st.booleans()):
        body["id"] = draw(st.text(max_size=12))
    if draw(st.booleans()):
        names = st.sampled_from(["probabilities", "prediction"] + ([] if valid else ["logits", ""]))
        params = st.fixed_dictionaries(
            {},
            optional={"binary_data": st.booleans()}
            | ({} if valid else {"classification": st.integers(0, 2)}),
        )
        outputs = st.builds(lambda n, p: {"name": n, "parameters": p}, names, st.none() | params)
        body["outputs"] = draw(st.lists(outputs, max_size=3))
    if draw(st.booleans()):
        body["parameters"] = {"binary_data_output": draw(st.one_of(st.booleans(), st.text(max_size=3)))}
    headers = {}
    if binary or (not valid and draw(st.booleans())):
        length = str(len(json.dumps(body).encode()))
        bad = st.sampled_from(["0", "-1", "1e3", "+12", "\u00b2", "99999999"])
        # bytes: httpx sends them as they are (latin-1 "\u00b2" is a digit to str.isdigit, not to int)
        headers[HEADER] = pick(length, bad).encode("latin-1")
    return body, tail, headers


def test_oip_bodies(server: Served) -> None:
    model = httpx.get(f"{server.url}/v1/model", timeout=30).json()
    name, channels, size = model["name"], int(model["channels"]), int(model["image_size"])
    case = _case(server, "/v2/models/{name}/infer", name=name)
    statuses: list[int] = []

    one = {"name": "input", "shape": [1, channels, size, size], "datatype": "FP32"}

    @budget(40)
    @given(request=oip_requests(channels, size))
    # A length header of a non-ASCII digit ("\u00b2" passes str.isdigit, not int) was a 500.
    @example(({"inputs": [{**one, "data": [0.0] * channels * size * size}]}, b"", {HEADER: b"\xb2"}))
    # A 400-digit integer in the data raised OverflowError from numpy: a 500.
    @example(({"inputs": [{**one, "data": [10**400] * channels * size * size}]}, b"", {}))
    def fuzz(request: tuple[dict, bytes, dict[str, bytes]]) -> None:
        body, tail, headers = request
        content = json.dumps(body).encode() + tail
        response = _post(f"{server.url}/v2/models/{name}/infer", content=content, headers=headers)
        statuses.append(response.status_code)
        if response.headers.get("content-type", "").startswith("application/json"):
            case.validate_response(response, checks=SCHEMA_CHECKS)
            _check_error_shape(response)
        else:  # binary outputs: JSON head, then the tensors' bytes
            assert response.status_code == 200, response.text[:500]
            n = int(response.headers[HEADER])
            assert json.loads(response.content[:n])["outputs"], response.content[:200]

    fuzz()
    assert 200 in statuses and 400 in statuses, statuses
