"""Each optimizer / scheduler / loss / sampler / model option trains through the real Lightning loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from medclass.api import train
from medclass.config import Config

OPTIONS = {
    "plateau with warm-up": ["scheduler.name=plateau", "scheduler.warmup_epochs=1", "scheduler.patience=0"],
    "onecycle": ["scheduler.name=onecycle"],
    "step": ["scheduler.name=step", "scheduler.step_size=1", "scheduler.gamma=0.5"],
    "multistep": ["scheduler.name=multistep", "scheduler.milestones=[1]"],
    "weighted sampler": ["data.sampler=weighted", "data.epoch_size=24"],
    "loss options": ["loss.class_weights=auto", "loss.label_smoothing=0.1", "loss.l2_penalty=0.001"],
    "explicit class weights": ["loss.class_weights=[1.0, 2.0]"],
    "sgd nesterov + clipping": ["optim.name=sgd", "optim.nesterov=true", "trainer.grad_clip_norm=1.0"],
    "adam": ["optim.name=adam"],
    "two-stage fine-tuning": ["model.freeze_backbone=true", "model.unfreeze_after_epochs=1"],
    "torchvision model with dropout head": ["model.name=resnet18", "model.drop_rate=0.2"],
    "every augmentation": [
        "augment.preset=strong", "augment.vflip=0.5", "augment.sharpness={factor: 1.5, p: 0.5}",
        "augment.blur={p: 0.5}", "augment.noise_std=0.05",
    ],
    "monitor val_auroc": ["trainer.monitor=val_auroc", "trainer.patience=1"],
    "letterbox + foreground crop": ["data.resize=letterbox", "data.crop_foreground=true"],
}  # fmt: skip


@pytest.mark.parametrize("overrides", list(OPTIONS.values()), ids=list(OPTIONS))
def test_option_trains_two_epochs(
    overrides: list[str], phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    result = train(fast_config(phantom_data, tmp_path / "run", ["trainer.epochs=2", *overrides]))
    metrics = pd.read_csv(result.run_dir / "metrics.csv")
    assert metrics["epoch"].tolist() == [1, 2]
    assert metrics["train_loss"].notna().all() and metrics["val_loss"].notna().all()
    assert result.test_metrics is not None and 0 <= result.test_metrics["accuracy"] <= 1


def test_weighted_sampler_draws_the_configured_epoch_size(
    phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    from medclass.api.train import build_datamodule
    from medclass.data.run_data import prepare_data

    config = fast_config(phantom_data, tmp_path / "run", ["data.sampler=weighted", "data.epoch_size=24"])
    datamodule = build_datamodule(config, prepare_data(config))
    loader = datamodule.train_dataloader()
    assert sum(len(targets) for _, targets in loader) == 24


def test_frozen_backbone_trains_only_the_head_until_unfrozen(
    phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    import torch

    from medclass.inference.checkpoint import read_checkpoint

    config = fast_config(
        phantom_data,
        tmp_path / "run",
        ["trainer.epochs=2", "model.freeze_backbone=true", "checkpoint.every_epoch=true"],
    )
    result = train(config)
    initial = {
        k: v
        for k, v in read_checkpoint(result.run_dir / "checkpoints" / "epoch=01.ckpt")["state_dict"].items()
    }
    later = read_checkpoint(result.run_dir / "checkpoints" / "epoch=02.ckpt")["state_dict"]
    conv = next(k for k in initial if "features" in k and k.endswith("weight"))
    head = next(k for k in initial if k.startswith("model.classifier") or k.startswith("model.head"))
    assert torch.equal(initial[conv], later[conv]), "a frozen layer changed"
    assert not torch.equal(initial[head], later[head]), "the head did not train"
