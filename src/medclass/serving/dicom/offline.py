"""``medclass predict ... --dicom-sr OUT_DIR``: the node's SR objects written as files (for a research PACS),
from the same prediction and the same builder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from medclass.inference.runner import Predictions
from medclass.inference.spec import ModelSpec
from medclass.runs import prepare_output_file
from medclass.serving.dicom.finding import findings_of
from medclass.serving.dicom.report import ReportBuilder, report_uids
from medclass.serving.dicom.spool import is_uid

FLAG = "--dicom-sr"


def report_targets(
    files: Sequence[str], out_dir: str | Path, builder: ReportBuilder, overwrite: bool = False
) -> dict[str, Path]:
    """The SR file of each DICOM input (``OUT_DIR/<SR SOP Instance UID>.dcm``), checked before any work;
    inputs that are not DICOM, or have no valid SOP Instance UID, get none.

    Raises:
        RunDirError: a target exists (without ``overwrite``) or ``out_dir`` is a file.
    """
    targets = {}
    for file in files:
        try:
            header = pydicom.dcmread(file, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, TypeError, EOFError):
            continue  # not DICOM: predict still lists it, with no report
        if not is_uid(str(header.get("SOPInstanceUID", ""))) or "StudyInstanceUID" not in header:
            continue
        _, uid = report_uids(header, builder.model)
        targets[file] = prepare_output_file(Path(out_dir) / f"{uid}.dcm", overwrite=overwrite, flag=FLAG)
    return targets


def write_reports(
    result: Predictions,
    spec: ModelSpec,
    builder: ReportBuilder,
    targets: dict[str, Path],
    flag_uncertain: float | None = None,
) -> list[Path]:
    """Write the SR (and any extra object of ``builder``) of each predicted DICOM input to its target; the
    files written. Inputs the model could not read get no report."""
    findings = findings_of(result, spec, flag_uncertain)
    written = []
    for path, target in targets.items():
        if path not in findings:
            continue
        source = pydicom.dcmread(path, stop_before_pixels=True)
        results = builder(source, findings[path], path)
        results[0].save_as(target, enforce_file_format=True)
        written.append(target)
        for i, extra in enumerate(results[1:], 1):
            extra.save_as(target.with_name(f"{target.stem}-{i}.dcm"), enforce_file_format=True)
            written.append(target.with_name(f"{target.stem}-{i}.dcm"))
    return written
