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
    return card
