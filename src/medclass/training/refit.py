"""``train --refit``: a fresh model trained on train+val for the first fit's best number of epochs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from medclass.config import Config
from medclass.data.datamodule import MedDataModule
from medclass.data.run_data import PreparedData
from medclass.inference.decision import Decision
from medclass.runs import RunLayout
from medclass.training.checkpoint import checkpoint_epoch, keep_for_inference
from medclass.training.fit import fit
from medclass.training.setup import build_module, run_normalization
from medclass.utils.seed import seed_everything


def refit_model(
    config: Config, data: PreparedData, best: Path, decision: Decision, run_dir: Path, console: Console
) -> tuple[Path, dict[str, Any]]:
    """Train a fresh model on train+val for the first fit's best number of epochs.

    Its log goes to ``refit/``; it becomes ``checkpoints/best.ckpt`` (the first fit's best model is kept as
    ``checkpoints/first_fit.ckpt``) and takes ``decision`` (the temperature and threshold fitted on val by the
    first fit, whose model had not trained on val). Returns the checkpoint and the ``refit`` block of
    test_metrics.json.
    """
    epochs = checkpoint_epoch(best) or config.trainer.epochs
    trainer = config.trainer.model_copy(update={"epochs": epochs, "patience": None})
    refit_config = config.model_copy(update={"trainer": trainer})
    table = data.training_table(config.split)
    val = table[table["split"] == "val"]
    # The val images train too; they stay in val only so that the loop's validation step has something to run.
    refit_table = pd.concat([table, val.assign(split="train")], ignore_index=True)
    datamodule = MedDataModule(
        data.cache,
        refit_table,
        data.classes,
        config.data,
        config.augment,
        config.seed,
        *run_normalization(config),
    )
    n_train = len(datamodule.rows["train"])
    console.print(
        f"refit: {epochs} epoch(s) on train+val ({n_train} images); its val figures are on seen images"
    )
    layout = RunLayout(run_dir)
    layout.refit.mkdir(exist_ok=True)
    seed_everything(config.seed)
    fit(build_module(refit_config, datamodule), datamodule, refit_config, layout.refit, console=console)
    layout.best_checkpoint.replace(layout.first_fit_checkpoint)
    final = keep_for_inference(RunLayout(layout.refit).last_checkpoint, layout.best_checkpoint, decision)
    return final, {
        "refit": {
            "epochs": epochs,
            "train_images": n_train,
            "first_fit_checkpoint": str(layout.first_fit_checkpoint),
        }
    }
