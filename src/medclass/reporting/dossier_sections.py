"""The evidence sections of dossier.md, from ``medclass validate``'s results: external validation per site,
heterogeneity, subgroups, decision curve and sample size, each with the figure behind it (the keys are those of
docs/validation.md)."""

from __future__ import annotations

from typing import Any

from medclass.reporting.dossier_common import ci_text
from medclass.reporting.dossier_labels import label_evidence_section


def _num(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "–"


def _figure(figures: dict[str, str], key: str, caption: str) -> list[str]:
    return ["", f"![{caption}]({figures[key]})", ""] if figures.get(key) else []


def external_section(validation: dict[str, Any]) -> list[str]:
    """Per site: n, accuracy, balanced accuracy and AUROC with CIs, ECE and calibration slope; what transfers."""
    sites = validation.get("external") or {}
    if not sites:
        return []
    lines = [
        "## External validation",
        "",
        "| site | n | accuracy | balanced accuracy | AUROC | ECE | calibration slope |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, site in sites.items():
        metrics, calibration = site.get("metrics") or {}, site.get("calibration") or {}
        label = f"{name} (the run's test split)" if site.get("internal") else name
        lines.append(
            f"| {label} | {site.get('n', '–')} | {ci_text(metrics.get('accuracy'))} | "
            f"{ci_text(metrics.get('balanced_accuracy'))} | {ci_text(metrics.get('auroc'))} | {_num(calibration.get('ece'))} | "
            f"{_num(calibration.get('slope'), 2)} |"
        )
    summary = (validation.get("transfer") or {}).get("summary") or []
    lines += [""] + [f"- {sentence}" for sentence in summary]
    pooled = (validation.get("heterogeneity") or {}).get("accuracy")
    if pooled:
        lines += ["", f"Heterogeneity across sites: {pooled.get('text', '')}"]
    figures = validation.get("figures") or {}
    lines += _figure(figures, "forest", "Accuracy per site and pooled (forest plot)")
    lines += _figure(figures, "reliability", "Reliability per site")
    return [*lines, ""]


def subgroup_section(validation: dict[str, Any]) -> list[str]:
    """Per subgroup column: the groups (n, accuracy with CI, too small), the largest gap and the warnings."""
    columns = ((validation.get("subgroups") or {}).get("columns")) or {}
    if not columns:
        return []
    lines = ["## Subgroups", ""]
    for column, analysis in columns.items():
        lines += [f"### {column}", "", "| group | n | accuracy | too small to judge |", "|---|---|---|---|"]
        for group, entry in (analysis.get("groups") or {}).items():
            lines.append(
                f"| {group} | {entry.get('n', '–')} | {ci_text(entry.get('accuracy'))} | "
                f"{'yes' if entry.get('too_small') else 'no'} |"
            )
        gap = (analysis.get("largest_gap") or {}).get("text")
        lines += [""] + ([f"Largest gap: {gap}"] if gap else [])
        lines += [f"- {warning}" for warning in analysis.get("warnings") or []] + [""]
    return lines


def decision_curve_section(validation: dict[str, Any]) -> list[str]:
    """The decision curve (binary tasks) with its useful thresholds and the operating point, or why it is absent."""
    curve = validation.get("decision_curve") or {}
    if not curve:
        return []
    lines = ["## Decision curve", ""]
    if curve.get("skipped"):
        return [*lines, f"Not drawn: {curve['skipped']}.", ""]
    lines.append(
        f"Net benefit of treating the images whose P({curve.get('positive_class')}) reaches a threshold."
    )
    for name, site in (curve.get("sites") or {}).items():
        useful, point = site.get("useful_thresholds"), site.get("operating_point") or {}
        lines.append(
            f"- {name}: the model beats treat-all and treat-none between thresholds {useful}; at the operating "
            f"point {_num(point.get('threshold'))} its net benefit is {_num(point.get('model'))} "
            f"(treat-all {_num(point.get('treat_all'))})."
        )
    return lines + _figure(validation.get("figures") or {}, "decision_curve", "Decision curve") + [""]


def sample_size_section(validation: dict[str, Any]) -> list[str]:
    """Each figure's CI width per site and the number of cases that would halve it."""
    sizes = validation.get("sample_size") or {}
    sites = sizes.get("sites") or {}
    if not sites:
        return []
    lines = [
        "## Sample size",
        "",
        sizes.get("rule", ""),
        "",
        "| site | figure | value [95% CI] | CI width | n | n to halve the width |",
        "|---|---|---|---|---|---|",
    ]
    for name, figures in sites.items():
        for figure, entry in figures.items():
            if isinstance(entry, dict):
                lines.append(
                    f"| {name} | {figure} | {ci_text(entry)} | {_num(entry.get('ci_width'))} | {entry.get('n', '–')} | "
                    f"{entry.get('n_to_halve', '–')} |"
                )
    return [*lines, ""]


def evidence_sections(validation: dict[str, Any] | None) -> list[str]:
    """Every evidence section the validation holds, in order (none without a validation)."""
    if not validation:
        return []
    if validation.get("task") == "multilabel":
        return label_evidence_section(validation)
    return (
        external_section(validation)
        + subgroup_section(validation)
        + decision_curve_section(validation)
        + sample_size_section(validation)
    )
