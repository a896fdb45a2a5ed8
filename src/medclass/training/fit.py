"""Assemble the Lightning Trainer for a run and fit a model; returns the best checkpoint."""

from __future__ import annotations

import errno
import logging
import signal
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.callbacks.progress.progress_bar import ProgressBar
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException
from rich.console import Console
from torch import nn

from medclass.config.schema import Config
from medclass.data.datamodule import MedDataModule
from medclass.inference.checkpoint import read_checkpoint
from medclass.runs import METRICS_FILE, RunLayout, monitor_mode
from medclass.training.callbacks import (
    EpochCheckpoint,
    EpochMetricsCSV,
    EpochSeed,
    EpochSummary,
    UnfreezeBackbone,
    WeightsEMA,
)
from medclass.training.module import LitClassifier
from medclass.training.precise_bn import PreciseBN, use_precise_bn
from medclass.training.progress import TrainingProgress
from medclass.utils.console import default_console
from medclass.utils.errors import MedclassError, RunDirError
from medclass.utils.io import atomic_write

# What Lightning reads from last.ckpt to resume; a file without them is refused before Lightning sees it.
RESUME_KEYS = ("state_dict", "optimizer_states", "lr_schedulers", "loops", "epoch")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file beside the target and renamed onto it.

    Lightning's own save stages the file in the system temporary folder and then moves it, which is a copy
    when that folder is on another file system: a kill or a full disk during the copy leaves a truncated
    checkpoint in place of the previous one. A rename within the run folder is atomic, so the previous
    checkpoint stays whole until the new one is complete.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        with atomic_write(path, "wb") as handle:
            torch.save(checkpoint, handle)


def resolve_precision(setting: str, model: nn.Module | None = None) -> str:
    """``auto``: 16-bit mixed precision on CUDA (bf16 where supported); on a CPU, bf16 mixed precision where the
    CPU computes bfloat16 in hardware (:func:`cpu_has_native_bf16`) and ``model`` has no grouped (depthwise)
    convolutions, else full precision."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    if model is not None and has_grouped_convolutions(model):
        return "32-true"
    return "bf16-mixed" if cpu_has_native_bf16() else "32-true"


def has_grouped_convolutions(model: nn.Module) -> bool:
    """Whether ``model`` has a grouped (e.g. depthwise) convolution: EfficientNet and MobileNet trained 0.5-0.9x
    as fast under bf16 autocast as in fp32 on the CPU, where ResNets, DenseNet, VGG and the custom CNN trained
    1.2-1.75x faster (BENCHMARKS.md, "bf16 autocast on the CPU")."""
    return any(isinstance(m, nn.Conv2d) and m.groups > 1 for m in model.modules())


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX tiles).

    There, bf16 autocast ran a ResNet-18 training step 1.7x faster than fp32 and a whole 96 px run 1.27x faster,
    as accurate (BENCHMARKS.md, "bf16 autocast on the CPU"); on other CPUs bfloat16 is emulated, which is not
    expected to pay (not measured: no such CPU here). torch has no public query for this yet: its ``torch.cpu``
    probes are private, so a torch without them counts as "no".
    """
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose state survives a moved or copied run folder.

    Lightning keeps the best score only when the checkpoint folder is the one it was saved from; in a moved
    run it warns and forgets it, so the next epoch would become ``best.ckpt`` however bad it is. The saved
    paths are re-rooted into this run's folder instead (the file names are fixed: ``best``, ``last``).
    """

    @property
    def state_key(self) -> str:
        # The key of ModelCheckpoint's state in a checkpoint: unchanged, so runs saved before still resume.
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = state_dict.get("dirpath")
        if saved and self.dirpath and saved != self.dirpath:
            here = Path(self.dirpath)

            def moved(path: Any) -> Any:
                return str(here / Path(path).name) if path else path

            state_dict = {
                **state_dict,
                "dirpath": self.dirpath,
                "best_model_path": moved(state_dict.get("best_model_path")),
                "kth_best_model_path": moved(state_dict.get("kth_best_model_path")),
                "last_model_path": moved(state_dict.get("last_model_path")),
                "best_k_models": {moved(k): v for k, v in (state_dict.get("best_k_models") or {}).items()},
            }
        super().load_state_dict(state_dict)


def build_callbacks(
    config: Config, run_dir: Path, extra: Sequence[L.Callback] = (), console: Console | None = None
) -> list[L.Callback]:
    """Checkpointing, early stopping, per-epoch CSV and summary, reseeding, unfreezing, plus ``extra``; the
    progress display when ``trainer.progress_bar`` is on and ``console`` (where the summary goes) is a terminal.
    """
    console = console or default_console()
    trainer_cfg = config.trainer
    mode = monitor_mode(trainer_cfg.monitor)
    layout = RunLayout(run_dir)
    callbacks: list[L.Callback] = [
        EpochSeed(config.seed),
        # best.ckpt: weights and medclass metadata only (what evaluate/predict need; no optimizer state, which
        # for Adam is twice the weights). last.ckpt: everything a resume needs.
        RunCheckpoint(
            dirpath=layout.checkpoints,
            filename=layout.best_checkpoint.stem,
            monitor=trainer_cfg.monitor,
            mode=mode,
            save_top_k=1,
            save_weights_only=True,
            enable_version_counter=False,
            save_on_train_epoch_end=True,
        ),
        # Saved after the whole epoch (not after validation, inside it), last.ckpt is a clean epoch boundary: a
        # resumed run starts the next epoch with every callback's state of this one.
        RunCheckpoint(
            dirpath=layout.checkpoints,
            filename=layout.last_checkpoint.stem,  # monitor None + top 1: the latest epoch, replaced every epoch
            save_top_k=1,
            enable_version_counter=False,
            save_on_train_epoch_end=True,
        ),
        EpochMetricsCSV(layout.file(METRICS_FILE)),
        EpochSummary(trainer_cfg.monitor, mode, console),
    ]
    if trainer_cfg.patience is not None:
        callbacks.append(EarlyStopping(monitor=trainer_cfg.monitor, mode=mode, patience=trainer_cfg.patience))
    if trainer_cfg.ema_decay is not None:
        # Validation swaps the average in, and every checkpoint stores it as the model's weights (last.ckpt keeps
        # the raw ones beside it, for a resume): best.ckpt, and so evaluate, predict and export, hold the EMA.
        callbacks.append(WeightsEMA(decay=trainer_cfg.ema_decay))
    if config.checkpoint.every_epoch:
        callbacks.append(EpochCheckpoint(layout.checkpoints))
    if config.model.freeze == "backbone" and config.model.unfreeze_after_epochs:
        callbacks.append(UnfreezeBackbone(config.model.unfreeze_after_epochs))
    if trainer_cfg.progress_bar and console.is_terminal:
        callbacks.append(TrainingProgress(console))
    return [*callbacks, *extra]


def build_trainer(
    config: Config,
    run_dir: Path,
    callbacks: Sequence[L.Callback],
    loggers: Sequence = (),
    model: nn.Module | None = None,
) -> L.Trainer:
    """A Trainer configured from ``config.trainer`` that writes into ``run_dir`` (``model``: the network it will
    train, which ``precision: auto`` looks at on a CPU)."""
    trainer_cfg = config.trainer
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=trainer_cfg.epochs,
        accelerator=trainer_cfg.accelerator,
        devices=trainer_cfg.devices,
        strategy=trainer_cfg.strategy,
        num_nodes=trainer_cfg.num_nodes,
        # The data module shards its own samplers (EpochSampler, ShardSampler) by rank.
        use_distributed_sampler=False,
        precision=resolve_precision(trainer_cfg.precision, model),
        gradient_clip_val=trainer_cfg.grad_clip_norm,
        gradient_clip_algorithm="norm",
        deterministic=config.deterministic,
        callbacks=list(callbacks),
        logger=list(loggers) or False,
        # Only medclass's own display (TrainingProgress), never Lightning's default bar.
        enable_progress_bar=any(isinstance(c, ProgressBar) for c in callbacks),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_train_batches=trainer_cfg.limit_train_batches,
        log_every_n_steps=10,
        plugins=[AtomicCheckpointIO()],
    )


def fit(
    module: LitClassifier,
    datamodule: MedDataModule,
    config: Config,
    run_dir: Path,
    resume: bool = False,
    callbacks: Sequence[L.Callback] = (),
    loggers: Sequence = (),
    console: Console | None = None,
) -> Path:
    """Train ``module`` and return the path of the best checkpoint.

    With ``resume``, training continues from ``run_dir/checkpoints/last.ckpt`` (optimizer, scheduler,
    early-stopping state and epoch counter included). The epoch lines (and, in a terminal, the progress
    display) go to ``console``.
    """
    callbacks = list(callbacks)
    if use_precise_bn(config.trainer.precise_bn, module.steps_per_epoch, module.model):
        batches = config.trainer.precise_bn_batches
        callbacks.append(
            PreciseBN(lambda: datamodule.stats_dataloader(batches * config.data.batch_size), batches)
        )
    # Lightning's start-up notes (GPU/TPU availability, advertising tips) are noise in medclass's output.
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    all_callbacks = build_callbacks(config, run_dir, callbacks, console)
    module.weight_average = next((c for c in all_callbacks if isinstance(c, WeightsEMA)), None)
    trainer = build_trainer(config, run_dir, all_callbacks, loggers, module.model)
    last = RunLayout(run_dir).last_checkpoint
    if resume and last.exists():
        check_resumable(last, config)
    with known_harmless_warnings_silenced():
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=last if resume and last.exists() else None)
        except SIGTERMException:
            # Lightning stops at the next batch and raises SystemExit with no code, i.e. exit status 0, as if
            # the run had finished. It has not: say so and exit with the status of a SIGTERM (128 + 15).
            default_console(stderr=True).print(
                f"stopped by SIGTERM; the last complete epoch is saved: resume with --resume --out {run_dir}"
                if last.exists()
                else "stopped by SIGTERM before the first epoch was saved: nothing to resume",
                highlight=False,
            )
            raise SystemExit(128 + signal.SIGTERM) from None
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise RunDirError(
                f"{run_dir}: no space left on the device while writing the run ({exc.strerror}); the last "
                f"complete checkpoint is kept: free some space and continue with --resume --out {run_dir}"
            ) from None
    if trainer.interrupted:
        raise KeyboardInterrupt
    best = RunLayout(run_dir).best_checkpoint
    return best if best.exists() else last


@contextmanager
def known_harmless_warnings_silenced() -> Iterator[None]:
    """Inside: Lightning's and torchmetrics' notes that say nothing a user can act on are not shown."""
    with warnings.catch_warnings():
        # Lightning suggests more loader workers; on CPU-only machines the model needs the cores instead.
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*`isinstance.*LeafSpec.*")
        # A frozen backbone keeps its BatchNorm layers in eval mode on purpose (models.freeze_backbone).
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode at the start of training.*")
        # torchmetrics warns that AUROC/F1 are undefined when a class is missing from a validation batch
        # (and returns 0, which the summary shows); the note repeats every epoch and says nothing more.
        warnings.filterwarnings("ignore", message=".*No positive samples in targets.*")
        warnings.filterwarnings("ignore", message=".*No negative samples in targets.*")
        warnings.filterwarnings("ignore", message=".*No positive samples found in target.*")
        warnings.filterwarnings("ignore", message=".*for one or more classes was `nan`.*")
        # A resumed run writes into its own checkpoints folder on purpose.
        warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
        yield


def check_resumable(last: Path, config: Config) -> None:
    """Refuse a ``last.ckpt`` that Lightning could not resume from, before Lightning opens it.

    Raises:
        RunDirError: a truncated or foreign file, or a change Lightning cannot carry over (a ``onecycle``
            schedule to a new number of epochs: its step count is fixed when it is built).
    """
    try:
        checkpoint = read_checkpoint(last)
    except MedclassError as exc:
        raise RunDirError(f"{exc}; the run cannot be resumed: start it again with --overwrite") from None
    missing = [k for k in RESUME_KEYS if not isinstance(checkpoint, dict) or k not in checkpoint]
    if missing:
        raise RunDirError(
            f"{last}: not a checkpoint a run can be resumed from (missing {', '.join(missing)}); "
            "start the run again with --overwrite"
        )
    before = (checkpoint.get("medclass") or {}).get("config") or {}
    epochs_before = (before.get("trainer") or {}).get("epochs")
    if (
        config.scheduler.name == "onecycle"
        and epochs_before is not None
        and epochs_before != config.trainer.epochs
    ):
        raise RunDirError(
            f"{last}: the run was trained with trainer.epochs = {epochs_before} and a onecycle schedule, which "
            f"fixes its length at the start; resume with --epochs {epochs_before}, or start a new run"
        )
