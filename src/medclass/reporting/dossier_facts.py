"""The facts a run folder holds that answer reporting-checklist items, each with the files it comes from.

A fact is filled only from files that exist: a source file that is absent is dropped, and a fact whose every
source is absent is left out, so an item the dossier calls filled always points at a real file. The names of
the facts are those the checklist YAML files (``reporting/checklists``) use in their ``fact`` field. The data
facts are here, the model and results facts in :mod:`~medclass.reporting.dossier_results`.
"""

from __future__ import annotations

from medclass.reporting.dossier_common import AUTHORS, Fact, FactCollector, counts_text, duplicates_text
from medclass.reporting.dossier_labels import is_multilabel_run, label_run_facts
from medclass.reporting.dossier_results import model_facts, result_facts
from medclass.runs import CONFIG_FILE, DATA_REPORT_FILE, SPLITS_FILE, RunFiles

__all__ = ["AUTHORS", "Fact", "run_facts"]


def _data_facts(facts: FactCollector, run: RunFiles) -> None:
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
        f"All readable images of the data set were used: {counts_text(report)}.",
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
        f"{counts_text(report)}. The assignment of every image is in splits.csv.",
        SPLITS_FILE,
        CONFIG_FILE,
        DATA_REPORT_FILE,
    )
    facts.add(
        "disjointness",
        f"Partitions are disjoint at the {level} level; {duplicates_text(report)} (kept within one split unless "
        f"split.allow_duplicate_leakage is set: {split.get('allow_duplicate_leakage')}).",
        SPLITS_FILE,
        DATA_REPORT_FILE,
    )
    facts.add(
        "participant_flow",
        f"{n_images + len(skipped) if isinstance(n_images, int) else '?'} image files found -> {len(skipped)} "
        f"unreadable -> {n_images} readable; {duplicates_text(report)} -> {counts_text(report)}.",
        DATA_REPORT_FILE,
    )
    facts.add(
        "partition_characteristics",
        f"Images per class and partition: {counts_text(report)}. Demographic and clinical characteristics per "
        f"partition: {AUTHORS} (the run holds none).",
        DATA_REPORT_FILE,
    )
    facts.add(
        "class_imbalance",
        f"Sampler: {data.get('sampler')}; loss class weights: {(config.get('loss') or {}).get('class_weights')}; "
        f"class counts per partition: {counts_text(report)}.",
        CONFIG_FILE,
        DATA_REPORT_FILE,
    )


def run_facts(run: RunFiles) -> dict[str, Fact]:
    """Every fact the run's files give, by name (see the module docstring)."""
    facts = FactCollector(run.run_dir)
    _data_facts(facts, run)
    model_facts(facts, run)
    if is_multilabel_run(run):
        label_run_facts(facts, run)
    else:
        result_facts(facts, run)
    return facts.facts
