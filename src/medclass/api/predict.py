"""``medclass predict``: class probabilities for image files and folders, optionally with uncertainty."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from medclass.assessment.predictions import PredictionTable, prediction_table
from medclass.inference.inputs import collect_files
from medclass.inference.runner import Predictor
from medclass.runs import prepare_output_file
from medclass.utils.errors import ConfigError


def predict(
    checkpoint: str | Path,
    inputs: Sequence[str | Path],
    out: str | Path | None = None,
    batch_size: int = 64,
    mc_dropout: int = 0,
    tta: int = 0,
    flag_uncertain: float | None = None,
    seed: int = 0,
    overwrite: bool = False,
    dicom_sr: str | Path | None = None,
) -> PredictionTable:
    """Predict every image of ``inputs``; unreadable files get a row with an ``error`` instead of stopping.

    Args:
        checkpoint: checkpoint file or run folder.
        inputs: image files and folders (searched recursively).
        out: CSV to write.
        batch_size: images per forward pass.
        mc_dropout: N > 0: average N passes with the dropout layers active (batch-norm stays in eval mode).
        tta: N > 0: average N test-time augmented views (the first is the image itself; then flips and
            small shifts from the eval-safe part of the training augmentation).
        flag_uncertain: mark rows whose predictive entropy (nats) exceeds this in an ``uncertain`` column
            (a multi-label model: the mean over its labels of each label's binary entropy).
        seed: seed of the dropout masks and augmentations.
        overwrite: replace ``out`` (and ``dicom_sr``'s files) when they exist (otherwise that is an error,
            checked before any work).
        dicom_sr: a folder: write the DICOM Structured Report of each DICOM input there, as ``medclass
            dicom-node`` sends it (``table.attrs["dicom_sr"]``: the files written).

    Returns:
        ``path, prediction, confidence, p_<class>..., [entropy, std,] [uncertain,] error`` in input order
        (written to ``out`` as CSV). ``entropy`` and ``std`` (of the predicted class's probability over the
        passes) come with ``mc_dropout``/``tta``; ``flag_uncertain`` alone adds the entropy of the plain
        prediction. ``table.attrs["dropout_layers"]`` counts the dropout layers MC dropout switched on.
        A multi-label model: ``path, prediction, p_<label>..., <label>..., [entropy, std, std_<label>...,]
        [uncertain,] error``, the decisions at the stored per-label thresholds applied to the mean
        probabilities over the passes (see :func:`medclass.assessment.predictions.prediction_table`).

    Raises:
        ConfigError: a negative pass count or threshold; ``dicom_sr`` for a multi-label model.
    """
    if flag_uncertain is not None and flag_uncertain < 0:
        raise ConfigError(f"--flag-uncertain {flag_uncertain}: an entropy threshold must be >= 0 (nats)")
    if out is not None:
        prepare_output_file(out, overwrite=overwrite)
    predictor = Predictor.load(checkpoint)
    if dicom_sr is not None:  # the SR's finding is one class per image
        predictor.meta.require_single_label("predict --dicom-sr")
    files = collect_files(inputs)
    if dicom_sr is not None:  # the dicom extra, imported only when asked (the core predict needs none)
        from medclass.reporting.model_card import model_card
        from medclass.serving.dicom.offline import report_targets, write_reports
        from medclass.serving.dicom.report import report_builder

        builder = report_builder(checkpoint, predictor.meta, model_card(Path(checkpoint)))
        targets = report_targets(files, dicom_sr, builder, overwrite=overwrite)
    result = predictor.predict_files(files, batch_size=batch_size, mc_dropout=mc_dropout, tta=tta, seed=seed)
    table = prediction_table(result, files, predictor.classes, flag_uncertain, mc_dropout)
    if dicom_sr is not None:
        written = write_reports(result, predictor.meta, builder, targets, flag_uncertain)
        table.attrs["dicom_sr"] = [str(p) for p in written]
    if out is not None:
        table.to_csv(out, index=False, float_format="%.6f")
    return table
