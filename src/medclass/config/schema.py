"""Typed configuration of a medclass run: :class:`Config`, the whole run, made of one section per concern.

Every field can be set in YAML or with ``--set section.key=value``; unknown keys and bad values are
rejected at load time with the key, the value and what is allowed (pydantic ``extra="forbid"``).

The sections live in their own modules (``data_section``: data and split; ``model_section``; ``training_section``:
optim, scheduler, loss, trainer, checkpoint; ``augment_section``; ``evaluation_section``); their names are
re-exported here, so ``from medclass.config.schema import DataConfig`` keeps working.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from medclass.config.augment_section import AUGMENT_PRESETS as AUGMENT_PRESETS
from medclass.config.augment_section import AugmentConfig
from medclass.config.augment_section import BlurAug as BlurAug
from medclass.config.augment_section import RandomResizedCropAug as RandomResizedCropAug
from medclass.config.augment_section import SharpnessAug as SharpnessAug
from medclass.config.data_section import DEFAULT_VAL_FRAC as DEFAULT_VAL_FRAC
from medclass.config.data_section import DEFAULT_VAL_FRAC_OF_TRAIN as DEFAULT_VAL_FRAC_OF_TRAIN
from medclass.config.data_section import IMAGE_EXTENSIONS as IMAGE_EXTENSIONS
from medclass.config.data_section import DataConfig, SplitConfig
from medclass.config.evaluation_section import EvaluationConfig
from medclass.config.model_section import CNNConfig as CNNConfig
from medclass.config.model_section import ConvBlock as ConvBlock
from medclass.config.model_section import ModelConfig
from medclass.config.safe_yaml import quote
from medclass.config.section import Section
from medclass.config.training_section import (
    CheckpointConfig,
    LossConfig,
    OptimConfig,
    SchedulerConfig,
    TrainerConfig,
)
from medclass.config.training_section import stopping_rule as stopping_rule


class Config(Section):
    """A whole medclass run."""

    name: str | None = Field(None, description="Run name (default: data set, model and time).")
    out: str | None = Field(None, description="Run directory (default: runs/<name>).")
    seed: Annotated[int, Field(ge=0)] = Field(42, description="Seed of splitting, shuffling and init.")
    deterministic: bool = Field(False, description="Bit-identical results on CPU (slower).")
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    recipe: str | None = Field(None, description="The named recipe the config was built on (train --recipe).")
    tracking: Literal["none", "mlflow", "tensorboard"] = "none"
    tracking_uri: str | None = Field(None, description="MLflow tracking URI (default: ./mlruns).")

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, value: str | None) -> str | None:
        if value is not None and (not value or "/" in value or value in {".", ".."}):
            raise ValueError(f"name = {quote(value)}: must be a single folder name")
        return value
