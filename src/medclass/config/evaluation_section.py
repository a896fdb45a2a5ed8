"""The ``evaluation`` section of a run config: the test-time settings of training's end and ``medclass
evaluate``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from medclass.config.section import Section


class EvaluationConfig(Section):
    """Test-time evaluation settings used at the end of training and by ``medclass evaluate``."""

    bootstrap: Annotated[int, Field(ge=0)] = Field(
        1000, description="Bootstrap resamples for 95% CIs (0: off)."
    )
    operating_point: str | None = Field(
        None,
        description="The decision rule predict and evaluate use for a binary model: youden, sensitivity=0.95 "
        "or specificity=0.9 = a threshold chosen on val for the positive class; argmax = no threshold; unset = "
        "youden (argmax when val lacks positives or negatives). Multi-class models decide by argmax. Reports "
        "show the metrics at the rule, at 0.5 and at a val operating point (this rule, else youden).",
    )
    positive_class: str | None = Field(
        None,
        description="Binary: the positive class of sensitivity, PPV and thresholds (default: the class named "
        "like tumour/tb/pneumonia/abnormal/yes/positive/malignant, else the minority class).",
    )
    calibrate: bool = Field(
        False,
        description="Fit temperature scaling on the validation split (multi-label data: one temperature per "
        "label, each by its binary cross-entropy, before the per-label thresholds).",
    )
    report: bool = Field(True, description="Write report.html at the end of training.")
    group_aggregate: Literal["mean", "max"] = Field(
        "mean",
        description="Patient-level metrics (when groups are known): a group's probabilities are the mean or "
        "the max of its images'.",
    )
