"""The table ``predict`` writes: one row per input file in input order, unreadable files with an ``error``."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from medclass.inference.decision import uncertain
from medclass.inference.passes import predictive_entropy
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
    """
    if flag_uncertain is not None and result.predicted.ndim == 2:
        raise ConfigError(
            "--flag-uncertain: the entropy rule is for single-label models; not for a multi-label one"
        )
    table = result.table(list(classes))
    if result.entropy is not None:
        table["entropy"], table["std"] = result.entropy, result.std
    elif flag_uncertain is not None:
        table["entropy"] = predictive_entropy(result.probs)
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
