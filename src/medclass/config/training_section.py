"""The sections of a run config that drive the training loop: ``optim``, ``scheduler``, ``loss``, ``trainer``
and ``checkpoint``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from medclass.config.section import Section


class OptimConfig(Section):
    """Optimizer."""

    name: Literal["adam", "adamw", "sgd"] = "adamw"
    lr: Annotated[float, Field(gt=0)] = 1e-3
    weight_decay: Annotated[float, Field(ge=0)] = 1e-4
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    backbone_lr_scale: Annotated[float, Field(gt=0, le=1)] = Field(
        1.0,
        description="Discriminative learning rates for fine-tuning: the backbone learns at lr x this, the "
        "classifier head at lr (e.g. 0.1 for ImageNet weights; 1: one rate for every layer).",
    )


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
    multilabel: Literal["bce", "focal", "asymmetric"] = Field(
        "bce",
        description="Multi-label loss: bce (binary cross-entropy with logits), focal (Lin et al. 2017, gamma 2), "
        "asymmetric (Ridnik et al. 2021, gamma- 4, gamma+ 0, clip 0.05).",
    )
    pos_weight: Literal["none", "auto"] = Field(
        "none", description="Multi-label: auto weighs each label's positives by negatives/positives in train."
    )


def stopping_rule(epochs: object, monitor: object, patience: object, refit: object = False) -> str:
    """``10 epochs, early stop on val_loss (patience 5)``, or ``no early stopping``, plus the refit."""
    stop = (
        f"early stop on {monitor} (patience {patience})"
        if patience is not None
        else f"no early stopping (best epoch by {monitor})"
    )
    return f"{epochs} epochs, {stop}" + (", then refit on train+val" if refit else "")


class ProgressiveResizingConfig(Section):
    """Train the first epochs on smaller images (fast.ai, FFCV): the side grows linearly from ``start_size`` to
    ``data.image_size``, reached at the fraction ``full_size_from`` of the epochs. Validation and test always
    use ``data.image_size``."""

    start_size: Annotated[int, Field(ge=16)] = Field(64, description="Side of the first epoch's images (px).")
    full_size_from: Annotated[float, Field(gt=0, le=1)] = Field(
        0.5, description="Fraction of the epochs after which every batch has data.image_size."
    )


def _number_as_text(value: object) -> object:
    """A whole number as its text (``32`` -> ``"32"``); anything else unchanged, for the Literal to check."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class TrainerConfig(Section):
    """Loop length, early stopping, precision and devices."""

    # 10 (15 until 2026-12-07): a hand-written loop's accuracy in 0.68x its time on two CPU cores (BENCHMARKS.md,
    # "Time to accuracy", third session); the recipes and the example protocols set their own length.
    epochs: Annotated[int, Field(ge=1)] = 10
    patience: Annotated[int, Field(ge=1)] | None = Field(
        5, description="Early-stopping patience (None: off)."
    )
    monitor: Literal["val_loss", "val_accuracy", "val_macro_f1", "val_auroc", "val_balanced_accuracy"] = (
        "val_loss"
    )
    grad_clip_norm: Annotated[float, Field(gt=0)] | None = None
    # BeforeValidator: `precision: 32` (YAML) and `--set trainer.precision=32` read as the number 32.
    precision: Annotated[
        Literal["auto", "32", "16-mixed", "bf16-mixed"], BeforeValidator(_number_as_text)
    ] = Field(
        "auto",
        description="auto: bf16-mixed on a CUDA GPU that supports it, else 16-mixed; on a CPU bf16-mixed where it "
        "has bfloat16 instructions (AVX512-BF16, AMX) and the model no depthwise convolutions, else 32.",
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
    progressive_resizing: ProgressiveResizingConfig | None = Field(
        None, description="Smaller training images in the first epochs (None: off)."
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
