"""Typed configuration of a medclass run.

Every field can be set in YAML or with ``--set section.key=value``; unknown keys and bad values are
rejected at load time with the key, the value and what is allowed (pydantic ``extra="forbid"``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

# The model section has its own module; its classes are re-exported here with Section.
from medclass.config.model_section import CNNConfig as CNNConfig
from medclass.config.model_section import ConvBlock as ConvBlock
from medclass.config.model_section import ModelConfig
from medclass.config.safe_yaml import quote
from medclass.config.section import Section

# Image formats the readers understand (lower-case, with the dot).
IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".tif",
    ".tiff",
    ".dcm",
    ".dicom",
    ".nii",
    ".nii.gz",
)


class DataConfig(Section):
    """Where the images are and how they are decoded, cached and batched."""

    path: str | None = Field(
        None, description="Folder (any supported layout), CSV manifest or MedMNIST .npz."
    )
    test_path: str | None = Field(
        None, description="A separate labelled test set (any layout): all of it is the test split."
    )
    channels: Literal[1, 3] = Field(1, description="Channels fed to the model (grayscale or RGB).")
    image_size: Annotated[int, Field(ge=8, le=2048)] = 128
    resize: Literal["stretch", "letterbox"] = Field(
        "stretch", description="stretch: squash to a square; letterbox: keep aspect ratio, pad with black."
    )
    slice_index: int | None = Field(None, description="NIfTI slice (last axis); default the middle one.")
    window: tuple[float, Annotated[float, Field(ge=1)]] | None = Field(
        None,
        description="[center, width] for DICOM/NIfTI values (CT: HU), e.g. [40, 400]; default the file's.",
    )
    crop_foreground: bool = Field(False, description="Crop to the largest bright component before resizing.")
    crop_threshold: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.1, description="Foreground threshold as a fraction of the image's intensity range."
    )
    cache_dir: str | None = Field(None, description="Preprocessed-array cache (default ~/.cache/medclass).")
    min_images_per_class: Annotated[int, Field(ge=1)] = Field(
        5, description="Fewest readable images a class may have (fewer: an error, usually a label typo)."
    )
    batch_size: Annotated[int, Field(ge=1)] = 32
    num_workers: int | Literal["auto"] = "auto"
    sampler: Literal["none", "weighted"] = Field(
        "none", description="weighted: oversample with inverse class frequency (WeightedRandomSampler)."
    )
    epoch_size: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Samples drawn per epoch by the weighted sampler (default: training-set size)."
    )
    normalize: Literal["auto", "dataset", "imagenet", "none"] = Field(
        "auto",
        description="auto: the pretrained weights' mean/std when weights are loaded, else dataset (per-channel "
        "mean/std of the training split).",
    )


# split.val_frac when not set: a share of all images for random splits; a share of train (so more images
# train) when the data set brings its own test split and only val is carved out of train.
DEFAULT_VAL_FRAC = 0.15
DEFAULT_VAL_FRAC_OF_TRAIN = 0.10


class SplitConfig(Section):
    """How images are divided into train/val/test (see ``medclass split``)."""

    strategy: Literal["auto", "stratified", "sorted-id", "kfold", "group", "predefined"] = Field(
        "auto", description="auto: the layout's own splits when it has them, else stratified."
    )
    val_frac: Annotated[float, Field(ge=0, lt=1)] | None = Field(
        None,
        description="Validation share (default: 0.15 of all images; 0.10 of train when the data set brings its "
        "own test split or --test-data is given).",
    )
    test_frac: Annotated[float, Field(ge=0, lt=1)] = 0.15
    seed: Annotated[int, Field(ge=0)] | None = Field(
        None, description="Split seed (default: the run's seed)."
    )
    folds: Annotated[int, Field(ge=2)] = 5
    fold: Annotated[int, Field(ge=0)] = Field(0, description="Validation fold for kfold splits.")
    group_regex: str | None = Field(
        None, description="Regex on the file name; group 1 (or the whole match) is the patient/group id."
    )
    allow_duplicate_leakage: bool = Field(
        False, description="Allow exact/near duplicates to land in different splits."
    )
    near_dup_distance: Annotated[int, Field(ge=0, le=64)] | None = Field(
        None, description="Perceptual-hash Hamming distance for near duplicates (default in data.duplicates)."
    )
    splits_file: str | None = Field(None, description="Use an existing splits.csv instead of splitting.")

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> SplitConfig:
        val_frac = DEFAULT_VAL_FRAC if self.val_frac is None else self.val_frac
        if val_frac + self.test_frac >= 1:
            given = "" if self.val_frac is not None else f" (split.val_frac not set: {DEFAULT_VAL_FRAC:g})"
            raise ValueError(
                f"split.val_frac + split.test_frac = {val_frac + self.test_frac:g}: must be < 1{given}"
            )
        if self.fold >= self.folds:
            raise ValueError(f"split.fold = {self.fold}: must be < split.folds = {self.folds}")
        return self


class OptimConfig(Section):
    """Optimizer."""

    name: Literal["adam", "adamw", "sgd"] = "adamw"
    lr: Annotated[float, Field(gt=0)] = 1e-3
    weight_decay: Annotated[float, Field(ge=0)] = 1e-4
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)


class SchedulerConfig(Section):
    """Learning-rate schedule, stepped per epoch (onecycle: per batch), with optional linear warm-up."""

    name: Literal["none", "cosine", "step", "multistep", "plateau", "onecycle"] = "cosine"
    warmup_epochs: Annotated[int, Field(ge=0)] = 0
    step_size: Annotated[int, Field(ge=1)] = 10
    milestones: list[int] = Field(default_factory=lambda: [30, 60])
    gamma: Annotated[float, Field(gt=0, le=1)] = 0.1
    patience: Annotated[int, Field(ge=0)] = 3
    factor: Annotated[float, Field(gt=0, lt=1)] = 0.5
    min_lr: Annotated[float, Field(ge=0)] = 1e-6


class LossConfig(Section):
    """Cross-entropy with optional label smoothing, class weights and an L2 penalty on the weights."""

    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.0
    class_weights: Literal["none", "auto"] | list[Annotated[float, Field(gt=0)]] = Field(
        "none", description="auto: inverse class frequency of the training split."
    )
    l2_penalty: Annotated[float, Field(ge=0)] = Field(
        0.0, description="Adds l2_penalty * sum of squared weights to the loss."
    )


class SharpnessAug(Section):
    factor: Annotated[float, Field(ge=0)] = 1.2
    p: Annotated[float, Field(ge=0, le=1)] = 0.2


class BlurAug(Section):
    kernel: Annotated[int, Field(ge=3)] = 5
    sigma: tuple[float, float] = (0.1, 1.5)
    p: Annotated[float, Field(ge=0, le=1)] = 0.2


class RandomResizedCropAug(Section):
    scale: tuple[float, float] = (0.8, 1.0)
    ratio: tuple[float, float] = (0.9, 1.1)


AUGMENT_PRESETS: dict[str, dict[str, Any]] = {
    "none": {},
    "light": {"hflip": 0.5, "rotation": 10.0},
    "standard": {
        "hflip": 0.5,
        "rotation": 15.0,
        "translate": 0.05,
        "scale": (0.9, 1.1),
        "brightness": 0.1,
        "contrast": 0.1,
    },
    "strong": {
        "hflip": 0.5,
        "rotation": 20.0,
        "translate": 0.1,
        "scale": (0.85, 1.15),
        "brightness": 0.2,
        "contrast": 0.2,
        "random_resized_crop": {"scale": (0.75, 1.0)},
        "blur": {"p": 0.2},
        "noise_std": 0.02,
    },
}


class AugmentConfig(Section):
    """Training augmentation: a preset, then per-op settings that override it. Eval is never augmented.

    The preset only fills the ops the YAML leaves out, so the saved (resolved) config shows what ran.
    """

    preset: Literal["none", "light", "standard", "strong"] = "standard"
    hflip: Annotated[float, Field(ge=0, le=1)] = Field(0.0, description="Probability.")
    vflip: Annotated[float, Field(ge=0, le=1)] = Field(0.0, description="Probability.")
    rotation: Annotated[float, Field(ge=0, le=180)] = Field(0.0, description="Max degrees.")
    translate: Annotated[float, Field(ge=0, lt=1)] = Field(0.0, description="Max shift, fraction of size.")
    scale: tuple[float, float] | None = Field(None, description="Random zoom range, e.g. [0.9, 1.1].")
    random_resized_crop: RandomResizedCropAug | None = None
    brightness: Annotated[float, Field(ge=0)] = 0.0
    contrast: Annotated[float, Field(ge=0)] = 0.0
    sharpness: SharpnessAug | None = None
    noise_std: Annotated[float, Field(ge=0)] = Field(0.0, description="Gaussian noise std on the 0-1 scale.")
    blur: BlurAug | None = None
    # After the geometric ops: TrivialAugmentWide (one random op per image) or RandAugment (two), from v2.
    # MixUp and CutMix mix a batch's images and labels; with both on, each batch takes one of the two.
    auto: Literal["none", "trivialaugment", "randaugment"] = Field("none", description="Automatic policy.")
    mixup: Annotated[float, Field(ge=0)] = Field(0.0, description="MixUp alpha (0: off), per batch.")
    cutmix: Annotated[float, Field(ge=0)] = Field(0.0, description="CutMix alpha (0: off), per batch.")

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        preset = values.get("preset", "standard")
        merged = dict(AUGMENT_PRESETS.get(preset, {}))
        merged.update(values)
        return merged


def stopping_rule(epochs: object, monitor: object, patience: object, refit: object = False) -> str:
    """``15 epochs, early stop on val_loss (patience 5)``, or ``no early stopping``, plus the refit."""
    stop = (
        f"early stop on {monitor} (patience {patience})"
        if patience is not None
        else f"no early stopping (best epoch by {monitor})"
    )
    return f"{epochs} epochs, {stop}" + (", then refit on train+val" if refit else "")


class TrainerConfig(Section):
    """Loop length, early stopping, precision and devices."""

    epochs: Annotated[int, Field(ge=1)] = 15
    patience: Annotated[int, Field(ge=1)] | None = Field(
        5, description="Early-stopping patience (None: off)."
    )
    monitor: Literal["val_loss", "val_accuracy", "val_macro_f1", "val_auroc", "val_balanced_accuracy"] = (
        "val_loss"
    )
    grad_clip_norm: Annotated[float, Field(gt=0)] | None = None
    precision: Literal["auto", "32", "16-mixed", "bf16-mixed"] = Field(
        "auto", description="auto: bf16-mixed on a CUDA GPU that supports it, else 16-mixed; 32 on CPU."
    )
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    devices: int | Literal["auto"] = Field(
        "auto", description="Devices (processes with ddp) per node; data.batch_size is per device."
    )
    strategy: str = Field(
        "auto", description="Lightning strategy, e.g. ddp for several GPUs or CPU processes."
    )
    num_nodes: Annotated[int, Field(ge=1)] = Field(1, description="Machines of a ddp run (torchrun, SLURM).")
    precise_bn: bool | Literal["auto"] = Field(
        "auto",
        description="Recompute BatchNorm statistics on the training images before each validation "
        "(auto: when an epoch has fewer than 50 steps).",
    )
    precise_bn_batches: Annotated[int, Field(ge=1)] = Field(
        32,
        description="Training batches drawn (once, at random) to recompute the BatchNorm statistics from.",
    )
    limit_train_batches: Annotated[float, Field(gt=0)] | None = None
    # Validated, checkpointed and tested instead of the raw weights; BN statistics are averaged too (precise BN
    # recomputes only the raw model's).
    ema_decay: Annotated[float, Field(gt=0, lt=1)] | None = Field(
        None, description="EMA of the weights (None: off)."
    )
    refit: bool = Field(
        False,
        description="After the first fit, train again on train+val for the best epoch count and evaluate "
        "that model on test.",
    )
    progress_bar: bool = Field(
        True, description="The progress display in a terminal (a log or a pipe gets plain epoch lines)."
    )

    def stopping_rule(self) -> str:
        """How the run ends, in words (see :func:`stopping_rule`)."""
        return stopping_rule(self.epochs, self.monitor, self.patience, self.refit)


class CheckpointConfig(Section):
    every_epoch: bool = Field(False, description="Keep checkpoints/epoch=NN.ckpt for every epoch.")


class EvaluationConfig(Section):
    """Test-time evaluation settings used at the end of training and by ``medclass evaluate``."""

    bootstrap: Annotated[int, Field(ge=0)] = Field(
        1000, description="Bootstrap resamples for 95% CIs (0: off)."
    )
    operating_point: str | None = Field(
        None,
        description="The decision rule predict and evaluate use for a binary model: unset = argmax; youden, "
        "sensitivity=0.95 or specificity=0.9 = a threshold chosen on val for the positive class. Reports show "
        "the metrics at the rule and at a val operating point (this rule, else youden).",
    )
    positive_class: str | None = Field(
        None,
        description="Binary: the positive class of sensitivity, PPV and thresholds (default: the class named "
        "like tumour/tb/pneumonia/abnormal/yes/positive/malignant, else the minority class).",
    )
    calibrate: bool = Field(False, description="Fit temperature scaling on the validation split.")
    report: bool = Field(True, description="Write report.html at the end of training.")
    group_aggregate: Literal["mean", "max"] = Field(
        "mean",
        description="Patient-level metrics (when groups are known): a group's probabilities are the mean or "
        "the max of its images'.",
    )


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
