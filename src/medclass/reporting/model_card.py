"""The model card of the web page and ``/v1/model``: the run behind a served model, its data and its test metrics
with 95% CIs, read from the run folder's files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medclass.inference.bundle import is_bundle, read_bundle_info
from medclass.reporting.tables import Estimate, headline_rows, per_class_rows, pretrained_text
from medclass.runs import load_run, run_dir_of

CARD_SKIP = ("Weighted F1",)  # the card stays short; the report has every metric


def _training_data(report: dict[str, Any] | None) -> str | None:
    """``253 images (train 165, val 37, test 51)`` from a run's data report."""
    counts = (report or {}).get("counts") or {}
    if not counts:
        return None
    per_split = {split: sum(by_class.values()) for split, by_class in counts.items()}
    splits = ", ".join(f"{s} {per_split[s]}" for s in ("train", "val", "test") if s in per_split)
    return f"{sum(per_split.values())} images ({splits})"


def model_card(source: Path) -> dict[str, Any]:
    """What the web page shows about the model: the run, its data and test metrics with 95% CIs.

    Read from the run behind ``source`` (a run folder, a checkpoint in one, or a bundle's ``source_run``); a bare
    checkpoint or a bundle moved away from its run has no card (``{}``).
    """
    run_dir = Path(read_bundle_info(source).get("source_run") or "") if is_bundle(source) else None
    try:
        run = load_run(run_dir or run_dir_of(source))
    except Exception:  # no run folder behind the model: no card
        return {}
    card: dict[str, Any] = {"run": run.name, "training_data": _training_data(run.data_report)}
    card["pretrained"] = pretrained_text((run.config or {}).get("model") or {})
    metrics = run.test_metrics or {}
    card["test_images"] = metrics.get("n")
    shown = {label: e.text(3) for label, e in headline_rows(metrics) if label not in CARD_SKIP}
    clinical = metrics.get("clinical") or {}
    if clinical.get("positive_class"):  # binary: sensitivity/specificity at the operating point served
        for key in ("sensitivity", "specificity"):
            entry = clinical.get(key) or {}
            estimate = Estimate(entry.get("value"), entry.get("ci_low"), entry.get("ci_high"))
            shown[f"{key.capitalize()} ({clinical['positive_class']})"] = estimate.text(3)
    else:
        for name, _, cells in per_class_rows(metrics):
            shown[f"Sensitivity ({name})"] = cells["sensitivity"].text(3)
    card["test_metrics"] = shown
    card["out_of_scope"] = OUT_OF_SCOPE_SHORT
    return card


# The sections of a model card as Mitchell et al. define them ("Model Cards for Model Reporting", FAT* 2019,
# doi:10.1145/3287560.3287596), with intended use and out-of-scope use spelled out.
MITCHELL_SECTIONS = (
    "Model details",
    "Intended use",
    "Out-of-scope use",
    "Factors",
    "Metrics",
    "Evaluation data",
    "Training data",
    "Quantitative analyses",
    "Ethical considerations",
    "Caveats and recommendations",
)
AUTHORS = "to be written by the authors"
# What a medclass model is never fit for, whatever its numbers: said on every card (the authors add their own).
OUT_OF_SCOPE = (
    "Use as the sole basis of a diagnosis or treatment decision (it is decision support, to be read by a "
    "clinician); images of another modality, body part, view, scanner or population than the training data "
    "describe (see Training data) unless validated on them; images that fail to decode or were preprocessed "
    "differently. Further out-of-scope uses: " + AUTHORS + "."
)


# The line the served card (web page, /v1/model) shows; the Markdown card has the whole text.
OUT_OF_SCOPE_SHORT = (
    "Decision support only, never the sole basis of a diagnosis; not validated for images unlike the training data "
    "(other modality, body part, scanner or population)."
)


def mitchell_card(source: Path) -> dict[str, str]:
    """A model card with the sections of Mitchell et al. (2019) (:data:`MITCHELL_SECTIONS`), each filled from the
    run's files where they hold the answer, else "to be written by the authors"; ``{}`` without a run."""
    run_dir = Path(read_bundle_info(source).get("source_run") or "") if is_bundle(source) else None
    try:
        run = load_run(run_dir or run_dir_of(source))
    except Exception:  # no run folder behind the model: no card
        return {}
    card = model_card(source)
    config, metrics = run.config or {}, run.test_metrics or {}
    model, data = config.get("model") or {}, config.get("data") or {}
    shown = "; ".join(f"{label} {value}" for label, value in (card.get("test_metrics") or {}).items())
    decision = metrics.get("threshold")
    sections = {
        "Model details": (
            f"Run {run.name}: image classifier `{model.get('name')}` ({data.get('image_size')} px, "
            f"{data.get('channels')} channel(s)), classes {', '.join(run.classes)}; pretrained weights "
            f"{card.get('pretrained')}; trained with medclass (config.yaml, checkpoints/best.ckpt). Developers, "
            f"version, licence, citation and contact: {AUTHORS}."
        ),
        "Intended use": f"Primary intended uses and users: {AUTHORS}.",
        "Out-of-scope use": OUT_OF_SCOPE,
        "Factors": (
            f"Relevant factors (groups, instruments, environments): {AUTHORS}; `medclass validate --subgroups` "
            "reports performance per manifest column (site, sex, age band, scanner, view)."
        ),
        "Metrics": (
            "Accuracy, balanced accuracy, macro F1, AUROC, per-class sensitivity and specificity with 95% "
            "bootstrap CIs, expected calibration error; decision "
            + ("argmax" if decision is None else f"threshold {decision:.3f} fitted on the validation split")
            + "."
        ),
        "Evaluation data": f"The run's test split: {metrics.get('n', '?')} images (splits.csv).",
        "Training data": f"{card.get('training_data') or '?'} from `{data.get('path')}` (data_report.json).",
        "Quantitative analyses": f"Test split: {shown or 'not evaluated'}.",
        "Ethical considerations": AUTHORS + ".",
        "Caveats and recommendations": (
            "Validate on data of the intended site before use (`medclass validate --external`); check the "
            f"shortcut screens. Further caveats: {AUTHORS}."
        ),
    }
    if metrics.get("task") == "multilabel":
        sections.update(_multilabel_sections(run.name, model, data, card, metrics))
    return sections


def _estimate_text(entry: dict[str, Any] | None) -> str:
    entry = entry or {}
    return Estimate(entry.get("value"), entry.get("ci_low"), entry.get("ci_high")).text(3)


def _multilabel_sections(
    name: str, model: dict[str, Any], data: dict[str, Any], card: dict[str, Any], metrics: dict[str, Any]
) -> dict[str, str]:
    """The card's sections that differ for a multi-label model (labels, per-label metrics and thresholds)."""
    labels = metrics.get("labels") or []
    per_label = metrics.get("per_label") or {}
    return {
        "Model details": (
            f"Run {name}: multi-label image classifier `{model.get('name')}` ({data.get('image_size')} px, "
            f"{data.get('channels')} channel(s)), labels {', '.join(labels)} (each present or absent on its "
            f"own, by its own sigmoid); pretrained weights {card.get('pretrained')}; trained with medclass "
            f"(config.yaml, checkpoints/best.ckpt). Developers, version, licence, citation and contact: {AUTHORS}."
        ),
        "Metrics": (
            "Per label AUROC, average precision, sensitivity and specificity at the label's threshold (chosen on "
            "the validation split) and the label-wise expected calibration error; macro and micro AUROC and "
            "mean average precision; 95% bootstrap CIs where evaluation.bootstrap > 0."
        ),
        "Quantitative analyses": "Test split: macro AUROC "
        + _estimate_text(metrics.get("macro_auroc"))
        + "; per-label AUROC "
        + ", ".join(
            f"{label} {_estimate_text((per_label.get(label) or {}).get('auroc'))}" for label in labels
        )
        + ".",
        "Caveats and recommendations": (
            "Validate on data of the intended site before use (`medclass validate --external`, label by label); "
            f"the shortcut screens are not available for multi-label models yet. Further caveats: {AUTHORS}."
        ),
    }


def model_card_markdown(source: Path) -> str:
    """:func:`mitchell_card` as Markdown (one heading per section)."""
    card = mitchell_card(source)
    lines = [
        "# Model card",
        "",
        "Sections of Mitchell et al., *Model Cards for Model Reporting* (FAT* 2019, "
        "doi:10.1145/3287560.3287596).",
        "",
    ]
    for section in MITCHELL_SECTIONS:
        lines += [f"## {section}", "", card.get(section, AUTHORS + "."), ""]
    return "\n".join(lines)
