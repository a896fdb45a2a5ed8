"""The body of ``medclass validate``: which labelled sets are scored (the plan, checked before any work), then
the frozen model scored on each and every section of ``validation.json`` that comes from its outputs: per-site
results, what transfers, heterogeneity, subgroups, decision curves and sample size.

The plan is made first so that a bad ``NAME=DATA``, an unknown class or a missing subgroup column is refused
before a folder is created or a model runs.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from medclass.assessment.external import (
    INTERNAL_SITE,
    SiteScores,
    compare_with_reference,
    heterogeneity,
    predictions_table,
    score_site,
    summarise_site,
)
from medclass.assessment.subgroups import subgroup_analysis
from medclass.data.attributes import attribute_columns, image_key, read_attributes
from medclass.data.multilabel import check_manifest_labels
from medclass.data.splits import read_splits
from medclass.evaluation.decision_curve import decision_curve
from medclass.evaluation.sample_size import HALVING_RULE, precision_of
from medclass.inference.inputs import image_groups, labelled_files
from medclass.inference.runner import Predictor
from medclass.runs import SPLITS_FILE
from medclass.runs.validation_layout import ValidationLayout
from medclass.utils.errors import ConfigError, DataError

_SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# The pseudo-column that names each image's site when no manifest has a column of that name.
SITE_COLUMN = "site"


@dataclass
class SitePlan:
    """One labelled set to score: its name, where it comes from, its images and labels."""

    name: str
    data: str
    paths: list[str]
    labels: list[str]
    manifest: Path | None = None

    @property
    def internal(self) -> bool:
        """Whether this is the run's own test split."""
        return self.name == INTERNAL_SITE


@dataclass
class ValidationPlan:
    """What ``validate`` will score, checked: the sites, the subgroup columns and where their values come from."""

    run_dir: Path
    sites: list[SitePlan]
    columns: list[str] = field(default_factory=list)
    attribute_files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    data_paths: list[str] = field(default_factory=list)

    @property
    def data_folders(self) -> list[str]:
        """The data the output folder must stay out of (the run's and every external set)."""
        return [s.data for s in self.sites if s.name != INTERNAL_SITE] + self.data_paths


def parse_external(items: Sequence[str]) -> list[tuple[str, str]]:
    """``NAME=DATA`` pairs of ``--external``.

    Raises:
        ConfigError: a malformed item, a bad or repeated name, ``internal`` (reserved) or a missing DATA path.
    """
    pairs: list[tuple[str, str]] = []
    for item in items:
        name, sep, data = item.partition("=")
        name, data = name.strip(), data.strip()
        if not sep or not name or not data:
            raise ConfigError(f"--external {item!r}: expected NAME=DATA (e.g. --external siteB=/data/siteB)")
        if not _SITE_NAME.match(name):
            raise ConfigError(f"--external {item!r}: NAME {name!r} must be letters, digits, '_', '.', '-'")
        if name == INTERNAL_SITE:
            raise ConfigError(
                f"--external {item!r}: {INTERNAL_SITE!r} names the run's own test split; choose another"
            )
        if name in {n for n, _ in pairs}:
            raise ConfigError(f"--external {item!r}: the site name {name!r} is given twice")
        if not Path(data).exists():
            raise ConfigError(f"--external {item!r}: {data}: no such folder or file")
        pairs.append((name, data))
    return pairs


def _manifest(path: str | None) -> Path | None:
    return Path(path) if path and Path(path).suffix.lower() == ".csv" and Path(path).is_file() else None


def plan_validation(
    run_dir: Path, predictor: Predictor, external: Sequence[str], subgroups: Sequence[str]
) -> ValidationPlan:
    """The checked plan: the run's test split (``internal``), each ``--external`` set, the subgroup columns.

    Args:
        run_dir: the run folder.
        predictor: the run's model (its classes and config).
        external: ``NAME=DATA`` items.
        subgroups: column names, or CSV files mapping ``path`` to columns (every column of such a file is used).

    Raises:
        ConfigError, DataError: see :func:`parse_external`; a set with classes the model does not know; nothing
            to score; a subgroup column no manifest or file holds (named, with the columns found).
    """
    meta = predictor.meta
    sites, warnings = [], []
    data_config = meta.config.get("data", {})
    # A multi-label row's label is a set of names (read as targets later), not one class.
    split_classes = None if meta.is_multilabel else meta.classes
    if not read_splits(run_dir / SPLITS_FILE, split_classes).query("split == 'test'").empty:
        paths, labels = labelled_files(run_dir, meta, None, "test")
        internal_source = _manifest(data_config.get("test_path")) or _manifest(data_config.get("path"))
        sites.append(SitePlan(INTERNAL_SITE, str(run_dir / SPLITS_FILE), paths, labels, internal_source))
    else:
        warnings.append(
            f"{run_dir / SPLITS_FILE}: the run has no test split; only the external sets are scored"
        )
    fitted_on = _fitted_images(run_dir, split_classes)
    for name, data in parse_external(external):
        if meta.is_multilabel:
            _check_multilabel_set(name, data, meta.classes)
        paths, labels = labelled_files(run_dir, meta, data, "test")
        sites.append(SitePlan(name, data, paths, labels, _manifest(data)))
        shared = sum(image_key(p) in fitted_on for p in paths)
        if shared:
            warnings.append(
                f"{name}: {shared} of its {len(paths)} images are in the run's train or val split: "
                "they are not external evidence"
            )
    if not sites:
        raise DataError(f"{run_dir}: no test split and no --external set: nothing to validate")
    columns, files = [], []
    for item in subgroups:
        if Path(item).suffix.lower() == ".csv":
            if not Path(item).is_file():
                raise ConfigError(f"--subgroups {item}: no such file")
            files.append(Path(item))
            columns += sorted(attribute_columns(read_attributes(item)) - set(columns))
        elif item not in columns:
            columns.append(item.strip().lower())
    data_paths = [p for p in (data_config.get("path"), data_config.get("test_path")) if p]
    plan = ValidationPlan(run_dir, sites, columns, files, warnings, data_paths)
    _check_columns(plan)
    return plan


def _check_multilabel_set(name: str, data: str, labels: list[str]) -> None:
    """A multi-label model is scored on a multi-label manifest (its labels checked, in one line) or ``.npz``.

    Raises:
        ConfigError: another layout (a class-per-folder folder has one class per image).
        DataError: a manifest naming a label the model does not know, or lacking a label's column.
    """
    suffix = Path(data).suffix.lower()
    if suffix == ".csv" and Path(data).is_file():
        check_manifest_labels(data, labels)
    elif suffix != ".npz":
        raise ConfigError(
            f"--external {name}={data}: a multi-label model is validated on a multi-label CSV manifest (a "
            "'labels' column or one 0/1 column per label) or a MedMNIST .npz, not a folder (docs/multilabel.md)"
        )


def _fitted_images(run_dir: Path, classes: list[str] | None) -> set[str]:
    """The images the run was trained or tuned on (train and val rows of splits.csv), by real path."""
    table = read_splits(run_dir / SPLITS_FILE, classes)
    return {image_key(p) for p in table.loc[table["split"].isin(["train", "val"]), "path"]}


def _attributes(plan: ValidationPlan) -> dict[str, dict[str, str]]:
    """Every image's attributes: the manifests' columns, then the ``--subgroups`` files' (which win)."""
    merged: dict[str, dict[str, str]] = {}
    for source in [s.manifest for s in plan.sites if s.manifest is not None] + plan.attribute_files:
        for key, values in read_attributes(source).items():
            merged.setdefault(key, {}).update(values)
    return merged


def _check_columns(plan: ValidationPlan) -> None:
    found = attribute_columns(_attributes(plan))
    missing = [c for c in plan.columns if c not in found and c != SITE_COLUMN]
    if missing:
        sources = [str(s.manifest) for s in plan.sites if s.manifest] + [str(f) for f in plan.attribute_files]
        raise ConfigError(
            f"--subgroups {', '.join(missing)}: no such column in "
            + (
                ", ".join(sources)
                if sources
                else "any manifest (the sets are folders: give --subgroups FILE.csv)"
            )
            + f"; columns found: {sorted(found) or 'none'}"
        )


def subgroup_values(plan: ValidationPlan, sites: Sequence[SiteScores]) -> dict[str, list[list[str | None]]]:
    """Each column's value per scored image, site by site (``site`` falls back to the site's name)."""
    attributes = _attributes(plan)
    found = attribute_columns(attributes)
    values = {}
    for column in plan.columns:
        if column == SITE_COLUMN and column not in found:
            values[column] = [[s.name] * len(s.paths) for s in sites]
        else:
            values[column] = [[attributes.get(image_key(p), {}).get(column) for p in s.paths] for s in sites]
    return values


def score_sites(plan: ValidationPlan, predictor: Predictor) -> list[SiteScores]:
    """The frozen model's outputs on every planned site."""
    return [
        score_site(
            predictor,
            s.name,
            s.data,
            s.paths,
            s.labels,
            partial(image_groups, plan.run_dir, None if s.name == INTERNAL_SITE else s.data),
        )
        for s in plan.sites
    ]


def decision_curves(
    sites: Sequence[SiteScores], classes: list[str], positive: str, threshold: float | None
) -> dict[str, Any]:
    """The decision curve of each site (binary), the stored threshold (0.5 for argmax) marked."""
    column = classes.index(positive)
    marked = 0.5 if threshold is None else threshold
    return {
        s.name: decision_curve(s.y_true == column, s.probs[:, column], operating_threshold=marked)
        for s in sites
    }


def sample_sizes(summaries: dict[str, dict[str, Any]], positive: str | None) -> dict[str, Any]:
    """The CI width of each site's headline figures and the cases that would halve it."""
    result: dict[str, Any] = {"rule": HALVING_RULE, "sites": {}}
    for name, site in summaries.items():
        figures = {
            "accuracy": precision_of(site["metrics"]["accuracy"], site["n"]),
            "auroc": precision_of(site["metrics"]["auroc"], site["n"]),
        }
        if positive is not None and "operating_point" in site:
            n_pos = site["class_counts"][positive]
            figures["sensitivity"] = precision_of(site["operating_point"]["sensitivity"], n_pos)
            figures["specificity"] = precision_of(site["operating_point"]["specificity"], site["n"] - n_pos)
        result["sites"][name] = {k: v for k, v in figures.items() if v is not None}
    return result


def write_decision_curve_table(curves: dict[str, dict[str, Any]], path: Path) -> None:
    """``decision_curve.csv``: ``site, threshold, model, treat_all, treat_none``, one row per site and threshold."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["site", "threshold", "model", "treat_all", "treat_none"])
        for name, curve in curves.items():
            for row in zip(
                curve["thresholds"], curve["model"], curve["treat_all"], curve["treat_none"], strict=True
            ):
                writer.writerow([name, *(f"{v:.6g}" for v in row)])


def validation_results(
    plan: ValidationPlan, predictor: Predictor, bootstrap: int, layout: ValidationLayout
) -> tuple[dict[str, Any], list[SiteScores]]:
    """Score every site and build the model-output sections of ``validation.json``.

    Returns:
        ``({"external", "transfer", "heterogeneity", "subgroups", "decision_curve", "sample_size",
        "warnings"}, the scored sites)``; writes ``predictions.csv`` (one row per image and site) and, for a
        binary model, ``decision_curve.csv`` into ``layout``.
    """
    meta = predictor.meta
    classes, decision = list(meta.classes), meta.decision
    sites = score_sites(plan, predictor)
    predictions_table(sites, classes).to_csv(layout.predictions, index=False, float_format="%.6f")
    summaries = {s.name: summarise_site(s, classes, decision, bootstrap) for s in sites}
    positive = decision.positive_class if len(classes) == 2 else None
    reference = next((s for s in sites if s.name == INTERNAL_SITE), None)
    transfer: dict[str, Any] = {"reference": INTERNAL_SITE if reference else None, "sites": {}, "summary": []}
    for site in sites:
        if reference is None or site is reference:
            continue
        comparison = compare_with_reference(reference, site, summaries, classes, decision)
        transfer["sites"][site.name] = comparison
        broken = [f["measure"] for f in comparison["findings"] if f["verdict"] == "breaks"]
        transfer["summary"].append(
            f"{site.name}: breaks ({', '.join(broken)})"
            if broken
            else f"{site.name}: transfers (no measure breaks)"
        )
    if reference is None:
        transfer["summary"].append("no internal test split to compare with: each site is reported on its own")
    curves = decision_curves(sites, classes, positive, decision.threshold) if positive is not None else None
    if curves is not None:
        write_decision_curve_table(curves, layout.decision_curve_table)
    results = {
        "external": summaries,
        "transfer": transfer,
        "heterogeneity": heterogeneity(sites, classes, decision),
        "subgroups": subgroup_analysis(
            sites, subgroup_values(plan, sites), classes, decision.threshold, positive, bootstrap
        )
        if plan.columns
        else None,
        "decision_curve": {
            "positive_class": positive,
            "sites": curves,
            "table": layout.relative(layout.decision_curve_table),
        }
        if curves is not None
        else {"skipped": f"decision curves are for binary tasks; this model has {len(classes)} classes"},
        "sample_size": sample_sizes(summaries, positive),
        "warnings": list(plan.warnings)
        + [f"{s.name}: {len(s.skipped)} unreadable image(s) skipped" for s in sites if s.skipped],
    }
    return results, sites


def overall_correct(sites: Sequence[SiteScores]) -> float:
    """Accuracy over every scored image (for the console line)."""
    return float(np.concatenate([s.correct for s in sites]).mean())
