"""The facts a run folder holds that answer reporting-checklist items, each with the files it comes from.

A fact is filled only from files that exist: :func:`run_facts` drops a source file that is absent and a fact
whose every source is absent, so an item the dossier calls filled always points at a real file. The names of
the facts are those the checklist YAML files (``reporting/checklists``) use in their ``fact`` field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medclass.reporting.tables import Estimate, headline_rows, pretrained_text
from medclass.runs import (
    CONFIG_FILE,
    DATA_REPORT_FILE,
    METRICS_FILE,
    MODEL_PROFILE_FILE,
    SPLITS_FILE,
    TEST_METRICS_FILE,
    RunFiles,
)
from medclass.runs.layout import MARKER_FILE

AUTHORS = "to be written by the authors"
BEST_CHECKPOINT = "checkpoints/best.ckpt"


@dataclass(frozen=True)
class Fact:
    """The answer a run gives to one checklist topic: ``text`` and the ``sources`` it was read from (paths
    relative to the run folder, or to the validation folder for ``validation.json`` and its figures)."""

    text: str
    sources: tuple[str, ...]


def _ci(entry: dict[str, Any] | None) -> str:
    entry = entry or {}
    return Estimate(entry.get("value"), entry.get("ci_low"), entry.get("ci_high")).text(3)


def _split_counts(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {split: dict(by_class) for split, by_class in (report.get("counts") or {}).items()}


def _counts_text(report: dict[str, Any]) -> str:
    counts = _split_counts(report)
    parts = []
    for split in ("train", "val", "test"):
        if split in counts:
            by_class = ", ".join(f"{name} {n}" for name, n in counts[split].items())
            parts.append(f"{split} {sum(counts[split].values())} ({by_class})")
    return "; ".join(parts)


def _duplicates(report: dict[str, Any]) -> str:
    dup = report.get("duplicates") or {}
    exact = (dup.get("exact") or {}) if isinstance(dup, dict) else {}
    near = (dup.get("near") or {}) if isinstance(dup, dict) else {}
    policy = report.get("duplicate_policy") or "unknown"
    return (
        f"{exact.get('groups', 0)} groups of byte-identical files ({exact.get('extra_copies', 0)} extra copies) and "
        f"{near.get('groups', 0)} near-duplicate groups (perceptual-hash distance <= {dup.get('near_distance', '?')}); "
        f"duplicate policy: {policy}"
    )


class _Facts:
    """Collects facts, keeping only the sources that exist (a fact without any is left out)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.facts: dict[str, Fact] = {}

    def add(self, name: str, text: str, *sources: str) -> None:
        present = tuple(s for s in sources if (self.run_dir / s).exists())
        if present:
            self.facts[name] = Fact(text, present)


def _data_facts(facts: _Facts, run: RunFiles) -> None:
    config, report = run.config, run.data_report or {}
    data = config.get("data") or {}
    split = config.get("split") or {}
    classes = ", ".join(run.classes)
    n_images, skipped = report.get("n_images"), report.get("skipped") or []
    facts.add(
        "data_sources",
        f"Images read from `{data.get('path')}` ({report.get('layout', '?')} layout)"
        + (f", test images from the separate set `{data['test_path']}`" if data.get("test_path") else "")
        + f": {n_images} readable images of {len(run.classes)} classes ({classes}). Institutions, scanners and "
        f"acquisition dates of the images: {AUTHORS}.",
        DATA_REPORT_FILE,
        CONFIG_FILE,
    )
    facts.add(
        "eligibility",
        f"Every image file of a supported format found in the data set was eligible; {len(skipped)} unreadable "
        f"file(s) were excluded (each with its reason in data_report.json); a class needs at least "
        f"{data.get('min_images_per_class', '?')} images. Clinical eligibility criteria: {AUTHORS}.",
        DATA_REPORT_FILE,
        CONFIG_FILE,
    )
    pre = report.get("preprocess") or {}
    facts.add(
        "preprocessing",
        f"Decoded to {pre.get('channels', data.get('channels'))} channel(s) (grey: ITU-R 601-2 luma), resized to "
        f"{pre.get('image_size', data.get('image_size'))} px ({pre.get('resize', data.get('resize'))}), foreground "
        f"crop {'on' if pre.get('crop_foreground') else 'off'}, DICOM window {data.get('window') or 'from the file'}; "
        f"intensities normalised with the training split's mean and standard deviation "
        f"(normalize: {data.get('normalize')}, stored with the model). The same steps run at inference.",
        DATA_REPORT_FILE,
        CONFIG_FILE,
    )
    facts.add(
        "data_subsets",
        f"All readable images of the data set were used: {_counts_text(report)}.",
        DATA_REPORT_FILE,
    )
    facts.add(
        "data_elements",
        f"Input: the image pixels only (no clinical variables). Output: one of the classes {classes}.",
        CONFIG_FILE,
        SPLITS_FILE,
    )
    facts.add(
        "missing_data",
        f"{len(skipped)} unreadable image(s) were excluded and listed with their reason (no imputation); the model "
        "uses no other input, so no predictor value can be missing. At inference an unreadable file is reported "
        "as such, never given a class.",
        DATA_REPORT_FILE,
    )
    facts.add(
        "reference_labels",
        f"Labels as the data set gives them ({report.get('layout', '?')} layout: the class folder names or the "
        f"manifest's label column), per image in splits.csv; classes {classes}. How these labels were established "
        f"(the reference standard, its readers): {AUTHORS}.",
        SPLITS_FILE,
        DATA_REPORT_FILE,
    )
    groups = run.splits is not None and "group" in run.splits.columns and run.splits["group"].notna().any()
    level = "patient/group (ids from split.group_regex or the manifest's group column)" if groups else "image"
    facts.add(
        "split_method",
        f"Split strategy {split.get('strategy')} (validation fraction {split.get('val_frac') or 'default'}, test "
        f"fraction {split.get('test_frac')}, seed {split.get('seed') or config.get('seed')}); "
        f"{_counts_text(report)}. The assignment of every image is in splits.csv.",
        SPLITS_FILE,
        CONFIG_FILE,
        DATA_REPORT_FILE,
    )
    facts.add(
        "disjointness",
        f"Partitions are disjoint at the {level} level; {_duplicates(report)} (kept within one split unless "
        f"split.allow_duplicate_leakage is set: {split.get('allow_duplicate_leakage')}).",
        SPLITS_FILE,
        DATA_REPORT_FILE,
    )
    facts.add(
        "participant_flow",
        f"{n_images + len(skipped) if isinstance(n_images, int) else '?'} image files found -> {len(skipped)} "
        f"unreadable -> {n_images} readable; {_duplicates(report)} -> {_counts_text(report)}.",
        DATA_REPORT_FILE,
    )
    facts.add(
        "partition_characteristics",
        f"Images per class and partition: {_counts_text(report)}. Demographic and clinical characteristics per "
        f"partition: {AUTHORS} (the run holds none).",
        DATA_REPORT_FILE,
    )
    facts.add(
        "class_imbalance",
        f"Sampler: {data.get('sampler')}; loss class weights: {(config.get('loss') or {}).get('class_weights')}; "
        f"class counts per partition: {_counts_text(report)}.",
        CONFIG_FILE,
        DATA_REPORT_FILE,
    )


def _model_facts(facts: _Facts, run: RunFiles) -> None:
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


def _result_facts(facts: _Facts, run: RunFiles) -> None:
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
        f"95% CI of its accuracy is {_ci(accuracy)}"
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
        f"Evidence for the limitations: test n = {metrics.get('n')} (accuracy CI {_ci(accuracy)}); "
        f"{_duplicates(run.data_report or {})}. The discussion itself: {AUTHORS}.",
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


def run_facts(run: RunFiles) -> dict[str, Fact]:
    """Every fact the run's files give, by name (see the module docstring)."""
    facts = _Facts(run.run_dir)
    _data_facts(facts, run)
    _model_facts(facts, run)
    _result_facts(facts, run)
    return facts.facts
