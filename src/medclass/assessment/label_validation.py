"""The body of ``medclass validate`` for a multi-label model: the frozen model scored on every planned site
(its own test split and each external manifest), each site summarised by label (AUROC, average precision,
sensitivity and specificity at the stored per-label thresholds, macro/micro AUROC and mAP, each with its
bootstrap CI), the gap of each label between the internal test split and each external site, and the
subgroups (macro and per-label AUROC per value of a column).

Every figure comes from :mod:`medclass.evaluation.multilabel` (whole images resampled, every label of an image
kept together; whole groups when the images' groups are known), the functions ``evaluate`` and ``train`` use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from medclass.assessment.external import INTERNAL_SITE
from medclass.assessment.multilabel import operating_points
from medclass.assessment.site_validation import ValidationPlan, subgroup_values
from medclass.assessment.subgroups import MIN_SUBGROUP_SIZE
from medclass.data.multilabel import encode, label_matrix
from medclass.evaluation.bootstrap import BOOTSTRAP_SEED
from medclass.evaluation.groups import group_codes
from medclass.evaluation.multilabel import GAP_MEASURES, label_gaps, multilabel_scores
from medclass.inference.inputs import image_groups, label_options_of
from medclass.inference.runner import Predictions, Predictor
from medclass.runs.validation_layout import ValidationLayout
from medclass.utils.errors import DataError

# The single-label rule's size below which a subgroup is "too small to judge", with the multi-label reason.
MIN_SUBGROUP_WHY = (
    f"fewer than {MIN_SUBGROUP_SIZE} images: each label's AUROC then rests on a handful of positive and "
    "negative images, and its 95% CI is too wide to tell a real gap from chance"
)


@dataclass
class LabelSite:
    """The frozen multi-label model's outputs on the readable images of one site.

    Attributes:
        name, data: the site's name (``internal``: the run's test split) and where its images come from.
        result: the predictions (paths, ``(N, K)`` probabilities and decisions, unreadable files).
        truth: ``(N, K)`` targets (1, 0, NaN uncertain).
        groups: each image's group (patient) when known, else None (the CIs then resample images).
    """

    name: str
    data: str
    result: Predictions
    truth: np.ndarray
    groups: list[str] | None

    @property
    def internal(self) -> bool:
        """Whether this is the run's own test split."""
        return self.name == INTERNAL_SITE

    @property
    def paths(self) -> list[str]:
        """The readable images, in scoring order."""
        return self.result.paths

    @property
    def clusters(self) -> np.ndarray | None:
        """Group codes for a cluster bootstrap, or None."""
        return None if self.groups is None else group_codes(self.groups)


def score_label_sites(plan: ValidationPlan, predictor: Predictor) -> list[LabelSite]:
    """Score every site of ``plan`` with the frozen model (unreadable images skipped and counted).

    Raises:
        DataError: none of a site's images is readable.
    """
    meta = predictor.meta
    sites = []
    for site in plan.sites:
        result = predictor.predict_files(site.paths)
        if not result.paths:
            first, reason = next(iter(result.failures.items()), ("-", "no file"))
            raise DataError(
                f"{site.data}: none of the {len(site.paths)} image(s) of site {site.name!r} is readable "
                f"({first}: {reason})"
            )
        text_of = dict(zip(site.paths, site.labels, strict=True))
        truth = label_matrix([text_of[p] for p in result.paths], meta.classes, site.data)
        data = None if site.internal else site.data
        groups = image_groups(plan.run_dir, data, result.paths, label_options_of(meta))
        sites.append(LabelSite(site.name, site.data, result, truth, groups))
    return sites


def summarise_label_site(
    site: LabelSite, labels: list[str], thresholds: np.ndarray, bootstrap: int
) -> dict[str, Any]:
    """One site's block of ``label_sites``: its images, label counts and the multi-label metrics with CIs."""
    metrics = multilabel_scores(
        site.truth, site.result.probs, labels, thresholds, bootstrap, BOOTSTRAP_SEED, clusters=site.clusters
    )
    known = ~np.isnan(site.truth)
    return {
        "name": site.name,
        "data": site.data,
        "internal": site.internal,
        "n": len(site.result.paths),
        "skipped": len(site.result.failures),
        "label_counts": {
            name: {"positive": int((site.truth[:, j] == 1).sum()), "known": int(known[:, j].sum())}
            for j, name in enumerate(labels)
        },
        **{key: metrics[key] for key in ("per_label", "macro_auroc", "micro_auroc", "map")},
        **({"ci": metrics["ci"]} if "ci" in metrics else {}),
    }


def _finding(
    measure: str, label: str | None, gap: dict[str, Any], reference: str, site: str
) -> dict[str, Any]:
    """A gap in words: lower at the site with a CI excluding 0 breaks; undefined at either is not estimable."""
    what = f"{label} {'AUROC' if measure == 'auroc' else measure}" if label else measure
    if gap["difference"] is None:
        side = reference if gap["reference"] is None else site
        return {
            "measure": measure,
            "label": label,
            **gap,
            "verdict": "not estimable",
            "text": f"{what}: not estimable at {side} (a label without positive or negative images there)",
        }
    broken = gap["difference"] < 0 and gap["excludes_zero"]
    ci = "" if gap["ci_low"] is None else f", 95% CI {gap['ci_low']:+.3f} to {gap['ci_high']:+.3f}"
    return {
        "measure": measure,
        "label": label,
        **gap,
        "verdict": "breaks" if broken else "transfers",
        "text": f"{what} {gap['reference']:.3f} on {reference} vs {gap['site']:.3f} at {site} "
        f"(difference {gap['difference']:+.3f}{ci})" + ("; lower beyond chance" if broken else ""),
    }


def label_transfer(sites: Sequence[LabelSite], labels: list[str], thresholds: np.ndarray) -> dict[str, Any]:
    """What transfers from the internal test split to each external site, label by label: each label's AUROC
    and its sensitivity and specificity at the stored threshold, and the macro AUROC; a figure lower at the
    site whose 95% CI of the difference excludes 0 breaks.

    Returns:
        ``{"reference": "internal" or None, "sites": {name: {"verdict", "macro_auroc": gap, "per_label":
        {label: {measure: gap}}, "findings": [...]}}, "summary": [one sentence per site]}``.
    """
    reference = next((s for s in sites if s.internal), None)
    transfer: dict[str, Any] = {"reference": INTERNAL_SITE if reference else None, "sites": {}, "summary": []}
    if reference is None:
        transfer["summary"].append("no internal test split to compare with: each site is reported on its own")
        return transfer
    for site in sites:
        if site is reference:
            continue
        gaps = label_gaps(
            (reference.truth, reference.result.probs),
            (site.truth, site.result.probs),
            labels,
            thresholds,  # label_gaps's default resamples: the single-label transfer rules' 2,000
            seed=BOOTSTRAP_SEED,
            clusters=(reference.clusters, site.clusters),
        )
        findings = [_finding("macro AUROC", None, gaps["macro_auroc"], reference.name, site.name)]
        findings += [
            _finding(measure, label, gaps["per_label"][label][measure], reference.name, site.name)
            for label in labels
            for measure in GAP_MEASURES
        ]
        broken = [
            f"{f['label']} {f['measure']}" if f["label"] else f["measure"]
            for f in findings
            if f["verdict"] == "breaks"
        ]
        transfer["sites"][site.name] = {
            "verdict": "breaks" if broken else "transfers",
            "macro_auroc": gaps["macro_auroc"],
            "per_label": gaps["per_label"],
            "findings": findings,
        }
        transfer["summary"].append(
            f"{site.name}: breaks ({', '.join(broken)})"
            if broken
            else f"{site.name}: transfers (no measure breaks)"
        )
    return transfer


def _subgroup(
    truth: np.ndarray, probs: np.ndarray, labels: list[str], thresholds: np.ndarray, bootstrap: int
) -> dict[str, Any]:
    """Macro AUROC and each label's AUROC in one subgroup, or why a label's is not estimable there."""
    metrics = multilabel_scores(truth, probs, labels, thresholds, bootstrap, BOOTSTRAP_SEED)
    per_label = {}
    for name, block in metrics["per_label"].items():
        entry: dict[str, Any] = {
            "auroc": block["auroc"],
            "n_positive": block["n_positive"],
            "n_known": block["n_known"],
        }
        if block["auroc"]["value"] is None:
            missing = "positive" if block["n_positive"] == 0 else "negative"
            entry["not_estimable"] = f"no {missing} image of {name} in this subgroup"
        per_label[name] = entry
    group = {
        "n": len(truth),
        "too_small": len(truth) < MIN_SUBGROUP_SIZE,
        "macro_auroc": metrics["macro_auroc"],
        "per_label": per_label,
    }
    if metrics["macro_auroc"]["value"] is None:
        group["not_estimable"] = "no label has both positive and negative images in this subgroup"
    return group


def label_subgroups(
    sites: Sequence[LabelSite],
    values: dict[str, list[list[str | None]]],
    labels: list[str],
    thresholds: np.ndarray,
    bootstrap: int,
) -> dict[str, Any]:
    """Per-subgroup macro and per-label AUROC of each column, every scored image taking part (an image without
    a value is left out of that column and counted as ``missing``).

    Args:
        sites: the scored sites.
        values: per column, each site's value per scored image (the order of the site's readable images).
        labels, thresholds: the model's labels and per-label thresholds.
        bootstrap: resamples of the CIs.
    """
    truth = np.concatenate([s.truth for s in sites])
    probs = np.concatenate([s.result.probs for s in sites])
    columns = {}
    for column, per_site in values.items():
        flat = np.array([v if v not in (None, "") else None for site in per_site for v in site], dtype=object)
        present = sorted({str(v) for v in flat if v is not None})
        groups = {
            value: _subgroup(truth[flat == value], probs[flat == value], labels, thresholds, bootstrap)
            for value in present
        }
        warnings = [
            f"{column}={value}: {group['n']} images, too small to judge ({MIN_SUBGROUP_WHY})"
            for value, group in groups.items()
            if group["too_small"]
        ]
        warnings += [
            f"{column}={value}: AUROC of {name} not estimable ({entry['not_estimable']})"
            for value, group in groups.items()
            for name, entry in group["per_label"].items()
            if "not_estimable" in entry
        ]
        columns[column] = {
            "groups": groups,
            "missing": int(sum(v is None for v in flat)),
            "warnings": warnings,
        }
    return {"min_size": MIN_SUBGROUP_SIZE, "min_size_why": MIN_SUBGROUP_WHY, "columns": columns}


def label_predictions_table(sites: Sequence[LabelSite], labels: list[str]) -> pd.DataFrame:
    """``predictions.csv`` of a multi-label validation: ``site, path, label`` (the true labels as text, ``?``
    marking an uncertain one), ``prediction`` (the positive labels at the stored thresholds), then per label
    ``p_<label>`` and ``<label>`` (its 0/1 decision)."""
    tables = []
    for site in sites:
        table = site.result.table(labels)
        table.insert(0, "site", site.name)
        table.insert(2, "label", [encode(row, labels) for row in site.truth])
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


# What a multi-label validation leaves out, and why: the single-label keys of validation.json that are null.
NOT_FOR_MULTILABEL = {
    "decision": "one threshold per label: see operating_points",
    "external": "per label and site: see label_sites",
    "transfer": "per label and site: see label_transfer",
    "subgroups": "per label and subgroup: see label_subgroups",
    "heterogeneity": "not yet for multi-label models: the random-effects pooling is of one decision per image "
    "(accuracy, sensitivity, specificity); pooling each label's figures across sites is not implemented",
    "decision_curve": "not yet for multi-label models: a decision curve is drawn for the positive class of a "
    "binary model; per-label net benefit is not implemented",
    "sample_size": "not yet for multi-label models: the CI of each label's figures per site is in label_sites",
    "shortcuts": "not yet for multi-label models: the screens predict one class per image from metadata, score "
    "the class decision on masked images and read the predicted class's explanation",
}


def label_validation_results(
    plan: ValidationPlan, predictor: Predictor, bootstrap: int, layout: ValidationLayout
) -> tuple[dict[str, Any], list[LabelSite]]:
    """Score every site with a multi-label model and build its sections of ``validation.json``.

    Returns:
        ``({"task", "labels", "operating_points", "label_sites", "label_transfer", "label_subgroups",
        "warnings", the single-label keys as None, "not_for_multilabel": {key: why}}, the scored sites)``;
        writes ``predictions.csv`` into ``layout``.
    """
    meta = predictor.meta
    labels, rules = list(meta.classes), meta.multilabel
    thresholds = np.asarray(rules.thresholds, dtype=np.float64)
    sites = score_label_sites(plan, predictor)
    label_predictions_table(sites, labels).to_csv(layout.predictions, index=False, float_format="%.6f")
    results: dict[str, Any] = {
        "task": "multilabel",
        "labels": labels,
        "operating_points": operating_points(rules),
        "label_sites": {s.name: summarise_label_site(s, labels, thresholds, bootstrap) for s in sites},
        "label_transfer": label_transfer(sites, labels, thresholds),
        "label_subgroups": label_subgroups(sites, subgroup_values(plan, sites), labels, thresholds, bootstrap)
        if plan.columns
        else None,
        "warnings": list(plan.warnings)
        + [
            f"{s.name}: {len(s.result.failures)} unreadable image(s) skipped"
            for s in sites
            if s.result.failures
        ],
    }
    results.update({key: None for key in NOT_FOR_MULTILABEL})
    results["not_for_multilabel"] = dict(NOT_FOR_MULTILABEL)
    return results, sites
