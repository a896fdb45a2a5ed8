"""Training options seen where they act, not only "it ran" (issue 21): the gradients the optimizer steps with are
clipped to ``trainer.grad_clip_norm``, the loss of a MixUp/CutMix run takes soft targets (and validation hard
ones), and the options given to ``medclass train`` land in the checkpoint: in its recorded config and in the
optimizer state that was actually used."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from console_script import console_script, script_env
from torch.optim.optimizer import register_optimizer_step_post_hook

from medclass.inference.checkpoint import read_checkpoint
from tests.api.conftest import make_fast_config

CLIP = 0.05  # far below the gradient norms of this model at its start, so the clipping acts on every step
QUIET = ["trainer.epochs=1", "evaluation.report=false", "evaluation.bootstrap=0"]


@pytest.fixture
def step_gradient_norms() -> Iterator[list[float]]:
    """The total gradient norm each optimizer step used, recorded after the step (Lightning clips inside the
    step's closure, so a hook before the step would see the previous step's gradients)."""
    norms: list[float] = []

    def record(optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))

    handle = register_optimizer_step_post_hook(record)
    try:
        yield norms
    finally:
        handle.remove()


@pytest.fixture
def loss_targets(monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    """The targets every call of the training loss received (training and validation steps)."""
    from medclass.training.losses import ClassificationLoss

    seen: list[torch.Tensor] = []
    real = ClassificationLoss.forward

    def recording(self, logits, targets, model=None):  # the signature of ClassificationLoss.forward
        seen.append(targets.detach().clone())
        return real(self, logits, targets, model)

    monkeypatch.setattr(ClassificationLoss, "forward", recording)
    return seen


def test_the_optimizer_steps_with_gradients_clipped_to_the_norm(
    phantom_data: Path, tmp_path: Path, step_gradient_norms: list[float]
) -> None:
    from medclass.api import train

    train(make_fast_config(phantom_data, tmp_path / "run", [*QUIET, f"trainer.grad_clip_norm={CLIP}"]))
    assert len(step_gradient_norms) >= 2
    assert max(step_gradient_norms) <= CLIP * (1 + 1e-4), step_gradient_norms
    assert max(step_gradient_norms) >= 0.99 * CLIP  # clipped down to the norm, not vanished


def test_mixup_and_cutmix_train_on_soft_targets_and_validate_on_hard_ones(
    phantom_data: Path, tmp_path: Path, loss_targets: list[torch.Tensor]
) -> None:
    from medclass.api import train

    overrides = [*QUIET, "augment.mixup=0.4", "augment.cutmix=1.0"]
    train(make_fast_config(phantom_data, tmp_path / "run", overrides))
    soft = [t for t in loss_targets if t.is_floating_point()]
    hard = [t for t in loss_targets if not t.is_floating_point()]
    assert soft and hard  # training batches mixed, validation batches not
    for targets in soft:
        assert targets.ndim == 2 and targets.shape[1] == 2
        torch.testing.assert_close(targets.sum(dim=1), torch.ones(len(targets)))
    blended = torch.cat(soft).max(dim=1).values
    assert (blended < 0.99).any(), blended  # labels blended between images, not one-hot
    assert all(t.ndim == 1 for t in hard)


def test_training_options_land_in_the_checkpoint(phantom_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    options = [
        "--data", phantom_data, "--out", out, "--epochs", "1", "--image-size", "32", "--lr", "0.0123",
        "--seed", "7", "--set", "model.name=cnn", "--set", "model.cnn.blocks=[{out_channels: 8}]",
        "--set", "optim.name=sgd", "--set", "optim.nesterov=true", "--set", "optim.weight_decay=0.002",
        "--set", f"trainer.grad_clip_norm={CLIP}", "--set", "augment.mixup=0.3",
        "--set", "evaluation.report=false", "--set", "evaluation.bootstrap=0",
    ]  # fmt: skip
    command = [*console_script(), "train", *(str(o) for o in options)]
    done = subprocess.run(command, capture_output=True, text=True, env=script_env(), timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    recorded = read_checkpoint(out / "checkpoints" / "best.ckpt")["medclass"]["config"]
    assert recorded["seed"] == 7 and recorded["data"]["image_size"] == 32
    assert recorded["optim"] == {**recorded["optim"], "name": "sgd", "lr": 0.0123, "nesterov": True}
    assert recorded["optim"]["weight_decay"] == 0.002 and recorded["model"]["name"] == "cnn"
    assert recorded["trainer"]["grad_clip_norm"] == CLIP and recorded["augment"]["mixup"] == 0.3
    # What was used, not only what was written down: the optimizer state of the resumable checkpoint.
    (group,) = read_checkpoint(out / "checkpoints" / "last.ckpt")["optimizer_states"][0]["param_groups"]
    assert group["initial_lr"] == pytest.approx(0.0123) and group["nesterov"] is True
    assert group["weight_decay"] == pytest.approx(0.002) and group["momentum"] > 0
