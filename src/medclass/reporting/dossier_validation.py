"""The facts ``medclass validate``'s results (``validation.json``) add to a run's: external sites, heterogeneity,
subgroups, shortcut screens, calibration across sites. Their sources are ``validation.json`` and the figures it
names, relative to the validation folder, kept only when they exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medclass.reporting.dossier_common import Fact, ci_text
from medclass.reporting.dossier_labels import label_validation_facts
from medclass.runs.validation_layout import FIGURES_DIR, VALIDATION_FILE


def figure_path(out_dir: Path, name: str | None) -> str | None:
    """The figure's path relative to the validation folder when it exists (as given, or under figures/)."""
    if not name:
        return None
    for candidate in (name, f"{FIGURES_DIR}/{name}"):
        if (out_dir / candidate).is_file():
            return candidate
    return None


def _fact(out_dir: Path, text: str, *figures: str | None) -> Fact:
    sources = [VALIDATION_FILE] + [f for f in (figure_path(out_dir, name) for name in figures) if f]
    return Fact(text, tuple(sources))


def _external(validation: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, site) for name, site in (validation.get("external") or {}).items() if not site.get("internal")
    ]


def validation_facts(validation: dict[str, Any] | None, out_dir: Path) -> dict[str, Fact]:
    """The facts of a validation's results (empty without one, or when ``validation.json`` is not written)."""
    if not validation or not (out_dir / VALIDATION_FILE).is_file():
        return {}
    figures = validation.get("figures") or {}
    if validation.get("task") == "multilabel":
        return label_validation_facts(validation, out_dir, figure_path(out_dir, figures.get("label_roc")))
    facts: dict[str, Fact] = {}
    sites = _external(validation)
    if sites:
        lines = [
            f"{name}: n = {site.get('n')}, accuracy {ci_text((site.get('metrics') or {}).get('accuracy'))}, "
            f"ECE {((site.get('calibration') or {}).get('ece') or float('nan')):.3f}, calibration slope "
            f"{(site.get('calibration') or {}).get('slope')}"
            for name, site in sites
        ]
        summary = " ".join((validation.get("transfer") or {}).get("summary") or [])
        facts["external_validation"] = _fact(
            out_dir,
            "External sites scored with the frozen model: " + "; ".join(lines) + ". " + summary,
            figures.get("forest"),
        )
        facts["dev_vs_eval"] = _fact(
            out_dir,
            "Class counts per external site: "
            + "; ".join(f"{name} {site.get('class_counts')}" for name, site in sites)
            + ". "
            + summary,
        )
        facts["calibration"] = _fact(
            out_dir,
            "Calibration per site (ECE, slope, intercept): "
            + "; ".join(
                f"{name} {((s.get('calibration') or {}).get('ece') or float('nan')):.3f}, "
                f"{(s.get('calibration') or {}).get('slope')}, {(s.get('calibration') or {}).get('intercept')}"
                for name, s in (validation.get("external") or {}).items()
            )
            + ".",
            figures.get("reliability"),
        )
    pooled = (validation.get("heterogeneity") or {}).get("accuracy")
    if pooled:
        facts["heterogeneity"] = _fact(
            out_dir,
            f"Random-effects pooled accuracy across sites: {pooled.get('text', pooled)}",
            figures.get("forest"),
        )
    columns = ((validation.get("subgroups") or {}).get("columns")) or {}
    if columns:
        gaps = [
            f"{column}: {(analysis.get('largest_gap') or {}).get('text', 'no gap computed')}"
            for column, analysis in columns.items()
        ]
        facts["subgroups"] = _fact(out_dir, "Subgroups: " + "; ".join(gaps), figures.get("forest"))
    shortcuts = validation.get("shortcuts") or {}
    screens = [
        (key, shortcuts[key]) for key in ("metadata", "masked_anatomy", "outside_body") if key in shortcuts
    ]
    if screens:
        text = "Shortcut screens: " + " ".join(
            f"[{key}: {'FLAGGED' if screen.get('flagged') else 'not flagged' if screen.get('flagged') is False else 'not run'}] "
            f"{screen.get('verdict', '')}"
            for key, screen in screens
        )
        facts["robustness"] = _fact(out_dir, text, *(screen.get("figure") for _, screen in screens))
        outside = shortcuts.get("outside_body") or {}
        if outside.get("verdict"):
            facts["explainability"] = _fact(
                out_dir, f"Explanation energy outside the body: {outside['verdict']}", outside.get("figure")
            )
    return facts


def merge_facts(run: dict[str, Fact], validation: dict[str, Fact], run_prefix: str) -> dict[str, Fact]:
    """Run facts and validation facts together: where both answer a topic the texts are joined; run sources
    get ``run_prefix`` (the run folder relative to the validation folder)."""
    merged = {
        name: Fact(fact.text, tuple(f"{run_prefix}{source}" for source in fact.sources))
        for name, fact in run.items()
    }
    for name, fact in validation.items():
        if name in merged:
            merged[name] = Fact(f"{merged[name].text} {fact.text}", merged[name].sources + fact.sources)
        else:
            merged[name] = fact
    return merged
