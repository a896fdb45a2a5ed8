"""KServe's own Python client (``kserve.InferenceRESTClient``, protocol v2) against a server; run by
tests/api/test_serve_protocol.py with an interpreter that has ``kserve`` (it pins pandas<3 and protobuf<7, so it
is not in medclass's dev environment). Prints one JSON line of what the client got.

Usage: python kserve_client.py URL MODEL TENSOR.npy [TOKEN]
"""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput


async def main(url: str, model: str, tensor: np.ndarray) -> dict:
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=60))
    seen: dict = {
        "live": await client.is_server_live(url),
        "ready": await client.is_server_ready(url),
        "model_ready": await client.is_model_ready(url, model),
        "other_ready": await client.is_model_ready(url, "other"),
    }
    for binary in (False, True):
        tensor_in = InferInput("input", list(tensor.shape), "FP32")
        tensor_in.set_data_from_numpy(tensor, binary_data=binary)
        outputs = [RequestedOutput(name, {"binary_data": binary}) for name in ("probabilities", "prediction")]
        request = InferRequest(model, [tensor_in], request_id="k1", request_outputs=outputs)
        response = await client.infer(url, request, model_name=model)
        seen[f"binary={binary}"] = {
            "id": response.id,
            **{o.name: o.as_numpy().tolist() for o in response.outputs},
        }
    request = InferRequest(model, [tensor_in], request_outputs=[RequestedOutput("logits")])
    try:
        await client.infer(url, request, model_name=model)
    except Exception as exc:  # httpx.HTTPStatusError
        seen["unknown_output"] = getattr(getattr(exc, "response", None), "status_code", repr(exc))
    await client.close()
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], np.load(sys.argv[3])))))
