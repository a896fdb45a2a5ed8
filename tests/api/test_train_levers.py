"""Issue-13 training levers end to end: an EMA of the weights is what the run validates, keeps and tests;
MixUp/CutMix and an automatic policy train and test like any other run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from medclass.api import evaluate, train
from medclass.config import Config
from medclass.inference.checkpoint import read_checkpoint

QUIET = ["evaluation.report=false", "evaluation.bootstrap=0", "trainer.epochs=2"]


def test_ema_weights_are_the_checkpointed_and_tested_model(
    phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    # One epoch: best.ckpt (weights only) and last.ckpt (everything) are saved at the same moment.
    overrides = [*QUIET, "trainer.epochs=1", "trainer.ema_decay=0.9"]
    run = train(fast_config(phantom_data, tmp_path / "ema", overrides)).run_dir
    best = read_checkpoint(run / "checkpoints" / "best.ckpt")["state_dict"]
    last = read_checkpoint(run / "checkpoints" / "last.ckpt")
    ema, raw = last["state_dict"], last["current_model_state"]
    weights = [k for k, v in ema.items() if v.is_floating_point() and "running" not in k]
    assert weights and set(weights) <= set(raw) and set(weights) <= set(best)
    assert any(not torch.equal(ema[k], raw[k]) for k in weights)  # the average, not the last step's weights
    assert all(torch.equal(best[k], ema[k]) for k in weights)  # best.ckpt holds the average too
    # The end-of-training test figures are those of the averaged weights that evaluate loads from best.ckpt.
    tested = json.loads((run / "test_metrics.json").read_text())
    again = evaluate(run, out=tmp_path / "eval")
    assert again["accuracy"] == tested["accuracy"]
    config = (run / "config.yaml").read_text()
    assert "ema_decay: 0.9" in config


def test_mixing_and_a_policy_train_and_test(
    phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    overrides = [*QUIET, "augment.auto=trivialaugment", "augment.mixup=0.2", "augment.cutmix=1.0"]
    run = train(fast_config(phantom_data, tmp_path / "mix", overrides)).run_dir
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["n"] > 0
    losses = (run / "metrics.csv").read_text()
    assert "nan" not in losses.lower()
