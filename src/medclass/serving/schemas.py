"""Request and response models of the HTTP API (a public contract, like the CLI flags)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FileResult(BaseModel):
    """The decision for one uploaded file."""

    file: str
    prediction: str
    probabilities: dict[str, float]
    confidence: float
    threshold: float | None = Field(None, description="operating point on the positive class (None: argmax)")
    above_threshold: bool | None = Field(
        None, description="the positive class's probability reaches the threshold (None without a threshold)"
    )
    entropy: float | None = Field(None, description="predictive entropy (nats), with ?mc_dropout=N")
    std: float | None = None
    uncertain: bool | None = Field(
        None, description="predictive entropy above the model's limit (half of ln K unless it sets one)"
    )
    passes: int = 1
    image: str | None = Field(None, description="the image as the model saw it (base64 PNG), with ?explain")
    gradcam: str | None = Field(
        None, description="Grad-CAM heat map (base64 RGBA PNG), with ?explain=gradcam"
    )


class LabelDecision(BaseModel):
    """One label of a multi-label model's answer."""

    probability: float = Field(description="the label's sigmoid probability (with ?mc_dropout=N: the mean)")
    positive: bool = Field(description="the probability reaches the label's threshold (chosen on val)")
    std: float | None = Field(
        None, description="spread of the probability over the passes, with ?mc_dropout=N"
    )


class LabelFileResult(BaseModel):
    """The decisions of a multi-label model for one uploaded file: every label on its own."""

    file: str
    prediction: str = Field(description="the positive labels joined by '|' (empty: no finding)")
    labels: dict[str, LabelDecision]
    entropy: float | None = Field(
        None, description="mean over the labels of each label's binary entropy (nats), with ?mc_dropout=N"
    )
    std: float | None = Field(
        None, description="mean over the labels of each label's std, with ?mc_dropout=N"
    )
    uncertain: bool | None = Field(None, description="entropy above half of ln 2, with ?mc_dropout=N")
    passes: int = 1


class PredictResponse(BaseModel):
    model: str
    results: list[FileResult | LabelFileResult]


class ErrorResponse(BaseModel):
    error: str
    detail: str
    file: str | None = None


class ModelInfo(BaseModel):
    name: str
    classes: list[str]
    positive_class: str | None
    image_size: int
    channels: int
    temperature: float
    threshold: float | None
    backend: str
    card: dict[str, Any] = Field(default_factory=dict)
    # A multi-label model: "multilabel" and each label's threshold, rule and temperature, as medclass.json has
    # them (absent for a single-label model, whose answer is unchanged).
    task: str | None = None
    labels: dict[str, dict[str, Any]] | None = None


class TensorInput(BaseModel):
    """An Open Inference Protocol input tensor: row-major flat ``data``, or none and ``parameters.binary_data_size``
    bytes after the JSON (the binary tensor data extension)."""

    name: str
    shape: list[int]
    datatype: str
    data: list[Any] | None = None
    parameters: dict[str, Any] | None = None


class TensorOutputRequest(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    id: str | None = None
    inputs: list[TensorInput]
    outputs: list[TensorOutputRequest] | None = None
    parameters: dict[str, Any] | None = None


class TensorOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


class InferResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    outputs: list[TensorOutput]


class TensorMeta(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str] = Field(default_factory=list)
    platform: str
    inputs: list[TensorMeta]
    outputs: list[TensorMeta]


class ServerMetadata(BaseModel):
    """``GET /v2``: the server's name, version and the protocol extensions it supports."""

    name: str
    version: str
    extensions: list[str]


class ModelReady(BaseModel):
    name: str
    ready: bool
