"""The table ``predict`` writes: one row per input file in input order, unreadable files with an ``error``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from medclass.inference.decision import uncertain
from medclass.inference.passes import mean_binary_entropy, predictive_entropy
from medclass.inference.runner import Predictions
from medclass.utils.errors import ConfigError

# A pandas DataFrame, one row per input file (the name lets callers annotate it without importing pandas).
PredictionTable = pd.DataFrame


def prediction_table(
    result: Predictions,
    files: Sequence[str],
    classes: Sequence[str],
    flag_uncertain: float | None = None,
    mc_dropout: int = 0,
) -> PredictionTable:
    """``path, prediction, confidence, p_<class>..., [entropy, std,] [uncertain,] error`` in the order of
    ``files``.

    ``entropy`` and ``std`` (of the predicted class's probability over the passes) come with several passes
    (MC dropout, TTA); ``flag_uncertain`` alone adds the entropy of the plain prediction, and ``uncertain``
    marks rows whose entropy (nats) exceeds it (:func:`medclass.inference.decision.uncertain`, the one rule).
    With ``mc_dropout``, ``table.attrs["dropout_layers"]`` counts the dropout layers switched on.

    A multi-label model: ``path, prediction, p_<label>..., <label>..., [entropy, std, std_<label>...,]
    [uncertain,] error``: ``entropy`` is the mean over the labels of each label's binary entropy
    (:func:`medclass.inference.passes.mean_binary_entropy`), ``std`` the mean over the labels of each label's
    spread over the passes and ``std_<label>`` that label's spread.

    Raises:
        ConfigError: a label whose decision column would take the name of an uncertainty column.
    """
    multilabel = result.predicted.ndim == 2
    table = result.table(list(classes))
    uncertainty = _uncertainty_columns(result, list(classes), flag_uncertain is not None, multilabel)
    added = {*uncertainty, *(["uncertain"] if flag_uncertain is not None else [])}
    clash = sorted(added & set(classes)) if multilabel else []
    if clash:
        raise ConfigError(
            f"label '{clash[0]}' has the name of predict's uncertainty column '{clash[0]}'; "
            "leave out --mc-dropout, --tta and --flag-uncertain for this model"
        )
    for name, values in uncertainty.items():
        table[name] = values
    if flag_uncertain is not None:
        table["uncertain"] = uncertain(table["entropy"].to_numpy(), len(classes), flag_uncertain)
    table["error"] = ""
    failed = pd.DataFrame({"path": list(result.failures), "error": list(result.failures.values())})
    table = pd.concat([table, failed], ignore_index=True) if len(failed) else table
    order = {path: i for i, path in enumerate(files)}
    table = table.sort_values("path", key=lambda s: s.map(order)).reset_index(drop=True)
    if mc_dropout:
        table.attrs["dropout_layers"] = result.dropout_layers
    return table


def _uncertainty_columns(
    result: Predictions, classes: list[str], flagging: bool, multilabel: bool
) -> dict[str, np.ndarray]:
    """``entropy`` and the spreads of several passes; with a flag alone, the entropy of the plain prediction."""
    if result.entropy is None:
        if not flagging:
            return {}
        entropy_of = mean_binary_entropy if multilabel else predictive_entropy
        return {"entropy": entropy_of(result.probs)}
    columns = {"entropy": result.entropy, "std": result.std}
    if multilabel and result.label_std is not None:
        columns.update({f"std_{name}": result.label_std[:, j] for j, name in enumerate(classes)})
    return columns
