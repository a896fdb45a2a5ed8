"""The model and results facts of a run (see :mod:`medclass.reporting.dossier_facts` for what a fact is): the
model, its training and selection, the metrics with CIs, the decision rule, calibration and failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medclass.reporting.dossier_common import (
    AUTHORS,
    BEST_CHECKPOINT,
    FactCollector,
    ci_text,
    duplicates_text,
)
from medclass.reporting.tables import headline_rows, pretrained_text
from medclass.runs import (
    CONFIG_FILE,
    DATA_REPORT_FILE,
    METRICS_FILE,
    MODEL_PROFILE_FILE,
    TEST_METRICS_FILE,
    TEST_PREDICTIONS_FILE,
    RunFiles,
)
from medclass.runs.layout import MARKER_FILE


def model_facts(facts: FactCollector, run: RunFiles) -> None:
    config = run.config
    model, data = config.get("model") or {}, config.get("data") or {}
    profile = run.model_profile or {}
    params = (profile.get("params") or {}).get("total")
    name = model.get("name")
    facts.add(
        "ai_method",
        f"Deep-learning image classifier (convolutional network `{name}`) for {len(run.classes)} classes, trained "
        "and evaluated with medclass.",
        CONFIG_FILE,
        MARKER_FILE,
    )
    facts.add(
        "model_description",
        f"`{name}` ({params if params is not None else '?'} parameters, {profile.get('macs', '?')} multiply-accumulates "
        f"per image): input {data.get('image_size')} x {data.get('image_size')} px, {data.get('channels')} channel(s); "
        f"output {len(run.classes)} scores turned into probabilities by a softmax at the stored temperature. The "
        "full architecture arguments are the config's model section; the checkpoint rebuilds the model on its own.",
        MODEL_PROFILE_FILE,
        CONFIG_FILE,
        BEST_CHECKPOINT,
    )
    marker = _marker(run.run_dir)
    facts.add(
        "software",
        f"medclass {marker.get('medclass_version', '?')} on PyTorch, PyTorch Lightning, torchvision and timm; "
        "the exact versions are recorded in the checkpoint (ModelSpec.versions).",
        MARKER_FILE,
        BEST_CHECKPOINT,
    )
    facts.add("initialization", f"Pretrained weights: {pretrained_text(model)}.", CONFIG_FILE)
    optim, scheduler = config.get("optim") or {}, config.get("scheduler") or {}
    trainer, augment, loss = (
        config.get("trainer") or {},
        config.get("augment") or {},
        config.get("loss") or {},
    )
    facts.add(
        "training",
        f"One model trained: {optim.get('name')} (lr {optim.get('lr')}, weight decay {optim.get('weight_decay')}), "
        f"{scheduler.get('name')} schedule, batch {data.get('batch_size')}, up to {trainer.get('epochs')} epochs, "
        f"early stopping on {trainer.get('monitor')} (patience {trainer.get('patience')}), label smoothing "
        f"{loss.get('label_smoothing')}, augmentation preset {augment.get('preset')} (flip {augment.get('hflip')}, "
        f"rotation {augment.get('rotation')} deg, mixup {augment.get('mixup')}, cutmix {augment.get('cutmix')}), "
        f"seed {config.get('seed')}. Every setting is in config.yaml; the learning curves in metrics.csv.",
        CONFIG_FILE,
        METRICS_FILE,
    )
    metrics = run.test_metrics or {}
    epochs_run = len(run.metrics) if run.metrics is not None else "?"
    facts.add(
        "model_selection",
        f"The checkpoint of the best epoch by {trainer.get('monitor')} on the validation split: epoch "
        f"{metrics.get('best_epoch', '?')} of {epochs_run} run; the test split was not used to choose it.",
        METRICS_FILE,
        TEST_METRICS_FILE,
    )
    facts.add("ensembling", "None: a single model.", CONFIG_FILE)
    facts.add(
        "model_specification",
        "The trained model with its preprocessing, temperature and threshold is the checkpoint "
        "(`medclass export` makes an ONNX bundle of it). Where it is published: " + AUTHORS + ".",
        BEST_CHECKPOINT,
    )
    facts.add(
        "code_availability",
        f"Reproducible with medclass {marker.get('medclass_version', '?')}: `medclass train --config config.yaml` "
        f"re-runs this training (splits in splits.csv). Where code, model and data are shared: {AUTHORS}.",
        CONFIG_FILE,
        MARKER_FILE,
    )
    facts.add(
        "blinding_index",
        "The model received the image pixels only: no clinical information and no reference-standard result.",
        CONFIG_FILE,
    )


def _marker(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return {}


def result_facts(facts: FactCollector, run: RunFiles) -> None:
    metrics = run.test_metrics
    if not metrics:
        return
    ci = metrics.get("ci") or {}
    headline = "; ".join(f"{label} {estimate.text(3)}" for label, estimate in headline_rows(metrics))
    facts.add(
        "metrics",
        "Accuracy, balanced accuracy, macro and weighted F1, AUROC (macro one-vs-rest for more than two classes), "
        "per-class sensitivity, specificity and precision, expected calibration error (15 bins), confusion matrix.",
        TEST_METRICS_FILE,
    )
    facts.add(
        "uncertainty",
        f"95% confidence intervals from {ci.get('n_resamples', '?')} {ci.get('method', 'bootstrap')} resamples "
        f"(unit: {ci.get('unit', 'image')}, seed {ci.get('seed', '?')}).",
        TEST_METRICS_FILE,
    )
    facts.add(
        "accuracy_estimates",
        f"Test split (n = {metrics.get('n')}): {headline}.",
        TEST_METRICS_FILE,
        "plots/roc.png",
    )
    facts.add(
        "cross_tabulation",
        f"Confusion matrix (rows: true {', '.join(run.classes)}; columns: predicted): {metrics.get('confusion_matrix')}.",
        TEST_METRICS_FILE,
        "plots/confusion_matrix.png",
    )
    best = _best_row(run)
    val = f"validation at the chosen epoch: accuracy {best.get('val_accuracy', '?')}, AUROC {best.get('val_auroc', '?')}; "
    train = f"training accuracy {best.get('train_accuracy', '?')}; " if best else ""
    facts.add(
        "performance_partitions",
        (val if best else "") + train + f"test: {headline}.",
        METRICS_FILE,
        TEST_METRICS_FILE,
    )
    facts.add(
        "failure_analysis", _failure_text(metrics, run.classes), TEST_METRICS_FILE, "plots/error_cams.png"
    )
    decision = metrics.get("threshold")
    calibration = metrics.get("calibration") or {}
    rule = (
        "the argmax of the probabilities"
        if decision is None
        else f"threshold {decision:.3f} on the positive class"
    )
    point = metrics.get("operating_point") or {}
    facts.add(
        "threshold",
        f"Decision rule: {rule}"
        + (f", chosen on the validation split by {point.get('rule', point)}" if point else "")
        + "; the temperature and threshold were fixed on the validation split before the test split was scored "
        "(the test split is scored once, at the end of training).",
        TEST_METRICS_FILE,
    )
    facts.add(
        "model_output",
        f"Probabilities per class (softmax at temperature {calibration.get('temperature', 1.0)}) and the class of the "
        f"decision rule ({rule}).",
        TEST_METRICS_FILE,
    )
    facts.add(
        "calibration",
        f"Expected calibration error on test {metrics.get('ece', float('nan')):.3f} ({calibration.get('n_bins', 15)} "
        f"bins); temperature {calibration.get('temperature')} fitted on {calibration.get('fitted_on') or 'nothing (not calibrated)'}.",
        TEST_METRICS_FILE,
        "plots/reliability.png",
    )
    facts.add(
        "explainability",
        "Class-activation maps of the test errors (plots/error_cams.png) by explain's default method for the model "
        "family (Grad-CAM for the custom CNN, ResNet and EfficientNet, chosen by the randomisation check, "
        "faithfulness, pointing game and readability measured in medclass' BENCHMARKS.md); `medclass explain "
        "--sanity` runs the model and data randomisation checks of Adebayo et al. (2018) on this model.",
        "plots/error_cams.png",
    )
    test_path = (run.config.get("data") or {}).get("test_path")
    if test_path:
        facts.add(
            "external_validation",
            f"The test split is a separate data set (`{test_path}`), not carved out of the training data.",
            CONFIG_FILE,
            TEST_METRICS_FILE,
        )
    facts.add(
        "audit",
        "Every test image's probabilities and decision are stored (predictions_test.csv, one row per image); "
        "`medclass validate` stores the same per site (predictions.csv).",
        TEST_PREDICTIONS_FILE,
    )
    facts.add(
        "indeterminate",
        "No indeterminate category: every readable image gets a class; unreadable images are excluded and listed.",
        DATA_REPORT_FILE,
    )
    width = None
    accuracy = ci.get("accuracy") or {}
    if accuracy.get("ci_low") is not None and accuracy.get("ci_high") is not None:
        width = accuracy["ci_high"] - accuracy["ci_low"]
    facts.add(
        "sample_size",
        f"No sample size was fixed in advance by the tool: the test split holds {metrics.get('n')} images and the "
        f"95% CI of its accuracy is {ci_text(accuracy)}"
        + (
            f" ({width:.3f} wide; about {4 * int(metrics.get('n') or 0)} test images would halve it)"
            if width
            else ""
        )
        + f". The intended sample size and its rationale: {AUTHORS}.",
        TEST_METRICS_FILE,
    )
    facts.add(
        "limitations_evidence",
        f"Evidence for the limitations: test n = {metrics.get('n')} (accuracy CI {ci_text(accuracy)}); "
        f"{duplicates_text(run.data_report or {})}. The discussion itself: {AUTHORS}.",
        TEST_METRICS_FILE,
        DATA_REPORT_FILE,
    )


def _best_row(run: RunFiles) -> dict[str, Any]:
    epoch = (run.test_metrics or {}).get("best_epoch")
    if run.metrics is None or epoch is None or "epoch" not in run.metrics.columns:
        return {}
    rows = run.metrics[run.metrics["epoch"] == epoch]
    return {} if rows.empty else {k: round(float(v), 4) for k, v in rows.iloc[-1].items() if k != "epoch"}


def _failure_text(metrics: dict[str, Any], classes: list[str]) -> str:
    matrix = metrics.get("confusion_matrix") or []
    pairs = [
        (count, classes[t], classes[p])
        for t, row in enumerate(matrix)
        for p, count in enumerate(row)
        if t != p and count and t < len(classes) and p < len(classes)
    ]
    top = ", ".join(
        f"{true} read as {pred} ({count})" for count, true, pred in sorted(pairs, reverse=True)[:3]
    )
    return (
        f"Most frequent errors on test: {top or 'none'}; the class-activation maps of the test errors are in "
        "plots/error_cams.png (the report's error panel)."
    )
