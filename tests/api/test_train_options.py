"""Each training option has the effect it promises, seen in the run folder or in what the model receives.

Every test here would pass if the option were ignored only by accident: each compares with the run that
ignores it (the same seed and data) or checks a figure that only the option produces.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch
from recording import module_inputs
from torch import nn

from medclass.api import predict, train
from medclass.config import Config
from medclass.inference.checkpoint import read_checkpoint

# Options with no effect to observe in a two-epoch run beyond training cleanly through the Lightning loop.
OPTIONS = {
    "plateau with warm-up": ["scheduler.name=plateau", "scheduler.warmup_epochs=1", "scheduler.patience=0"],
    "weighted sampler": ["data.sampler=weighted", "data.epoch_size=24"],
    "loss options": ["loss.class_weights=auto", "loss.label_smoothing=0.1", "loss.l2_penalty=0.001"],
    "sgd nesterov + clipping": ["optim.name=sgd", "optim.nesterov=true", "trainer.grad_clip_norm=1.0"],
    "adam": ["optim.name=adam"],
    "torchvision model with dropout head": ["model.name=resnet18", "model.drop_rate=0.2"],
    "every augmentation": [
        "augment.preset=strong", "augment.vflip=0.5", "augment.sharpness={factor: 1.5, p: 0.5}",
        "augment.blur={p: 0.5}", "augment.noise_std=0.05",
    ],
    "letterbox + foreground crop": ["data.resize=letterbox", "data.crop_foreground=true"],
}  # fmt: skip

NO_REPORT = ["evaluation.report=false", "evaluation.bootstrap=0"]


def _train(fast_config: Callable[..., Config], data: Path, out: Path, overrides: list[str]) -> Path:
    return train(fast_config(data, out, [*NO_REPORT, *overrides])).run_dir


def _metrics(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "metrics.csv")


@pytest.mark.parametrize("overrides", list(OPTIONS.values()), ids=list(OPTIONS))
def test_option_trains_two_epochs(
    overrides: list[str], phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    result = train(fast_config(phantom_data, tmp_path / "run", [*NO_REPORT, "trainer.epochs=2", *overrides]))
    metrics = _metrics(result.run_dir)
    assert metrics["epoch"].tolist() == [1, 2]
    assert metrics["train_loss"].notna().all() and metrics["val_loss"].notna().all()
    assert result.test_metrics is not None and 0 <= result.test_metrics["accuracy"] <= 1


@pytest.mark.parametrize(
    ("overrides", "factors"),
    [
        (["scheduler.name=step", "scheduler.step_size=1", "scheduler.gamma=0.5"], [1.0, 0.5, 0.25]),
        (["scheduler.name=multistep", "scheduler.milestones=[2]", "scheduler.gamma=0.1"], [1.0, 1.0, 0.1]),
        (["scheduler.name=none"], [1.0, 1.0, 1.0]),
    ],
    ids=["step", "multistep", "none"],
)
def test_the_lr_column_follows_the_scheduler(
    overrides: list[str],
    factors: list[float],
    phantom_data: Path,
    tmp_path: Path,
    fast_config: Callable[..., Config],
) -> None:
    # metrics.csv logs the learning rate each epoch trained with (epoch 1: the base rate), not the rate after
    # the epoch's scheduler step (that is the next epoch's).
    run = _train(fast_config, phantom_data, tmp_path / "run", ["optim.lr=0.004", *overrides])
    assert _metrics(run)["lr"].tolist() == pytest.approx([0.004 * f for f in factors], rel=1e-3)


def test_onecycle_warms_up_then_anneals(
    phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    run = _train(fast_config, phantom_data, tmp_path / "run", ["optim.lr=0.004", "scheduler.name=onecycle"])
    lr = _metrics(run)["lr"].tolist()
    # Stepped per batch; each row holds the rate of the epoch's first step: epoch 1 starts at max_lr / 25
    # (torch's div_factor), the peak (30% of the run) falls inside epoch 1, then it anneals.
    assert lr[0] == pytest.approx(0.004 / 25, rel=1e-3), lr
    assert 0.004 > lr[1] > lr[2] > lr[0], lr


def test_class_weights_reach_the_loss(
    phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    # The phantom training split is balanced, so weights [1, 3] change the weighted-mean loss from step one.
    plain = _metrics(_train(fast_config, phantom_data, tmp_path / "plain", ["trainer.epochs=1"]))
    again = _metrics(_train(fast_config, phantom_data, tmp_path / "again", ["trainer.epochs=1"]))
    weighted = _metrics(
        _train(
            fast_config, phantom_data, tmp_path / "w", ["trainer.epochs=1", "loss.class_weights=[1.0, 3.0]"]
        )
    )
    assert plain["train_loss"].tolist() == again["train_loss"].tolist()  # training is repeatable
    assert weighted["train_loss"].iloc[0] != pytest.approx(plain["train_loss"].iloc[0], rel=1e-4)
    assert weighted["val_loss"].iloc[0] != pytest.approx(plain["val_loss"].iloc[0], rel=1e-4)


def test_monitor_val_auroc_keeps_the_epoch_of_the_best_val_auroc(
    phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    overrides = ["trainer.epochs=4", "trainer.monitor=val_auroc", "optim.lr=0.03", "seed=11"]
    run = _train(fast_config, phantom_data, tmp_path / "run", overrides)
    metrics = _metrics(run)
    best = json.loads((run / "test_metrics.json").read_text())["best_epoch"]
    assert best == int(metrics.loc[metrics["val_auroc"].idxmax(), "epoch"]), metrics
    # Discriminating: monitoring val_loss would have kept another epoch.
    assert best != int(metrics.loc[metrics["val_loss"].idxmin(), "epoch"]), metrics


def _conv_and_head(state: dict[str, torch.Tensor]) -> tuple[str, str]:
    conv = next(k for k in state if "features" in k and k.endswith("weight"))
    head = next(k for k in state if k.startswith(("model.classifier", "model.head")))
    return conv, head


@pytest.mark.parametrize("unfreeze", [False, True], ids=["frozen", "unfrozen after 1 epoch"])
def test_frozen_backbone_trains_only_the_head_until_unfrozen(
    unfreeze: bool, phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    overrides = ["trainer.epochs=2", "model.freeze=backbone", "checkpoint.every_epoch=true"]
    if unfreeze:
        overrides.append("model.unfreeze_after_epochs=1")
    run = _train(fast_config, phantom_data, tmp_path / "run", overrides)
    first = read_checkpoint(run / "checkpoints" / "epoch=01.ckpt")["state_dict"]
    second = read_checkpoint(run / "checkpoints" / "epoch=02.ckpt")["state_dict"]
    conv, head = _conv_and_head(first)
    assert not torch.equal(first[head], second[head]), "the head did not train"
    assert torch.equal(first[conv], second[conv]) != unfreeze, "backbone frozen/unfrozen not as configured"


def _first_conv_inputs(run: Path, paths: list[str]) -> torch.Tensor:
    with module_inputs(nn.Conv2d) as seen:
        predict(run, paths)
    return torch.cat(seen[0])


@pytest.mark.parametrize("mode", ["stretch", "letterbox"])
def test_letterbox_pads_a_wide_image_and_stretch_does_not(
    mode: str, image_folder: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    # image_folder holds 40x32 (wide) random-noise images: letterboxed to 32 px, about 3 rows above and below
    # are padding, constant along the row; stretched, every row is noise.
    run = _train(
        fast_config,
        image_folder,
        tmp_path / "run",
        ["trainer.epochs=1", f"data.resize={mode}", "split.val_frac=0.25", "split.test_frac=0.25"],
    )
    inputs = _first_conv_inputs(run, [str(p) for p in sorted(image_folder.rglob("*.png"))[:4]])
    row_spread = inputs.std(dim=-1).amax(dim=(0, 1))  # per row: the largest spread along it over images
    assert inputs.shape[-2:] == (32, 32)
    assert (row_spread[[0, 1, -2, -1]] == 0).all() == (mode == "letterbox"), row_spread
    assert (row_spread[8:24] > 0).all()
