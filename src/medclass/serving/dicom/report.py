"""The Comprehensive SR of one classified instance (highdicom, TID 1500 Measurement Report).

The report holds one image-level measurement group (TID 1501) that references the source SOP instance and
carries: the decided class as its coded finding (TID 1501 Finding), the probability of each class, the operating point and whether
the case reaches it, the uncertainty flag when asked, and the model (name, version, test metrics with 95% CIs,
"decision support only") as its algorithm identification. It goes into the source's study, in one series per
study and model labelled as AI output.

UIDs are derived from the source SOP Instance UID and the model identity (``generate_uid`` with entropy
sources), so a report sent twice (a crash between the send and the spool record) is the same instance in the
PACS, not a second report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import highdicom as hd
from highdicom.coding_schemes import CodingSchemeIdentificationItem
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from medclass.inference.spec import ModelSpec
from medclass.serving.dicom.codes import CODES_FILE, LOCAL_SCHEME, local_code, read_codes
from medclass.serving.dicom.finding import Finding

DECISION_SUPPORT = "Decision support only: not a diagnosis; a clinician decides."
SR_SERIES_DESCRIPTION = "AI output (medclass) - decision support only"
SR_SERIES_NUMBER = 9901
MANUFACTURER = "medclass"
IMAGING = hd.sr.CodedConcept("363679005", "SCT", "Imaging")
NO_UNITS = hd.sr.CodedConcept("1", "UCUM", "no units")
YES = hd.sr.CodedConcept("373066001", "SCT", "Yes")
NO = hd.sr.CodedConcept("373067005", "SCT", "No")
THRESHOLD = local_code("OPERATING-POINT", "Operating point (threshold on the positive class probability)")
ABOVE = local_code("ABOVE-OP", "At or above the operating point")
LOCAL_SCHEME_ITEM = CodingSchemeIdentificationItem(
    designator=LOCAL_SCHEME, name="medclass local codes (class names)", responsible_organization="medclass"
)
UNCERTAIN = local_code("UNCERTAIN", "Uncertain prediction (predictive entropy above the limit)")


@dataclass(frozen=True)
class ModelIdentity:
    """The model as a report names it.

    Attributes:
        name: what was trained (architecture and run), at most 64 characters in the report.
        version: medclass version and run id.
        parameters: lines of the algorithm identification: test metrics with 95% CIs, the operating point.
        uid: a stable UID of this model (derived from name and version).
    """

    name: str
    version: str
    parameters: tuple[str, ...] = ()
    uid: str = field(default="")

    def __post_init__(self) -> None:
        if not self.uid:
            object.__setattr__(
                self, "uid", generate_uid(entropy_srcs=["medclass-model", self.name, self.version])
            )


def probability_code(name: str) -> hd.sr.CodedConcept:
    """The measurement name of a class's probability."""
    return local_code(f"P-{name}"[:64], f"Probability of {name}")


# Type 2 attributes of the Patient and General Study modules the SR copies from its evidence: a source that
# lacks one (allowed in some IODs, or a sloppy modality) gets it empty in the copy the report is built from.
COPIED_TYPE2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)


def _with_type2(source: Dataset) -> Dataset:
    header = Dataset()
    header.update(source)  # a shallow copy: the source is not changed
    for keyword in COPIED_TYPE2:
        if keyword not in header:
            setattr(header, keyword, "")
    return header


def report_uids(source: Dataset, model: ModelIdentity) -> tuple[str, str]:
    """``(series, instance)`` UIDs of the report of ``source``: one series per study and model."""
    series = generate_uid(entropy_srcs=["medclass-sr-series", str(source.StudyInstanceUID), model.uid])
    instance = generate_uid(entropy_srcs=["medclass-sr", str(source.SOPInstanceUID), model.uid])
    return series, instance


def _group(
    source: Dataset, finding: Finding, model: ModelIdentity, codes_of: Mapping[str, hd.sr.CodedConcept]
):
    measurements = [
        hd.sr.Measurement(name=probability_code(name), value=p, unit=NO_UNITS)
        for name, p in zip(finding.classes, finding.probs, strict=True)
    ]
    evaluations = []
    if finding.threshold is not None:
        measurements.append(hd.sr.Measurement(name=THRESHOLD, value=finding.threshold, unit=NO_UNITS))
        evaluations.append(hd.sr.QualitativeEvaluation(ABOVE, YES if finding.above else NO))
    if finding.uncertain is not None:
        evaluations.append(hd.sr.QualitativeEvaluation(UNCERTAIN, YES if finding.uncertain else NO))
    algorithm = hd.sr.AlgorithmIdentification(
        name=model.name[:64], version=model.version[:64], parameters=[*model.parameters, DECISION_SUPPORT]
    )
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=generate_uid(entropy_srcs=["medclass-group", str(source.SOPInstanceUID), model.uid]),
            identifier=f"medclass classification: {finding.label}"[:64],
        ),
        finding_type=codes_of[finding.label],
        algorithm_id=algorithm,
        measurements=measurements,
        qualitative_evaluations=evaluations,
        source_images=[hd.sr.SourceImageForMeasurementGroup(source.SOPClassUID, source.SOPInstanceUID)],
    )


def build_report(
    source: Dataset, finding: Finding, model: ModelIdentity, codes_of: Mapping[str, hd.sr.CodedConcept]
) -> hd.sr.ComprehensiveSR:
    """The Comprehensive SR of ``finding`` for the instance ``source`` (its header is enough: no pixels used).

    Args:
        source: the classified instance (patient, study, SOP class and instance UIDs are read).
        finding: what the model decided.
        model: the model's identity (algorithm identification).
        codes_of: the coded concept of each class (:func:`medclass.serving.dicom.codes.read_codes`).
    """
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=model.uid, name=model.name[:64], manufacturer_name=MANUFACTURER, model_name=model.name[:64]
        ),
    )
    content = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=IMAGING,
        imaging_measurements=[_group(source, finding, model, codes_of)],
    )  # no image library: its descriptors need modality-specific attributes (CR: Patient Orientation)
    series, instance = report_uids(source, model)
    return hd.sr.ComprehensiveSR(
        evidence=[_with_type2(source)],
        content=content,
        series_instance_uid=series,
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=instance,
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        series_description=SR_SERIES_DESCRIPTION,
        manufacturer_model_name=model.name[:64],
        software_versions=model.version[:64],
        coding_schemes=[LOCAL_SCHEME_ITEM],
    )


def identity_of(spec: ModelSpec, card: Mapping[str, Any], source: str | Path) -> ModelIdentity:
    """The identity of the model at ``source`` (a run folder or bundle) from its description and model card
    (:func:`medclass.reporting.model_card.model_card`: the run and its test metrics with 95% CIs)."""
    run = card.get("run") or Path(source).name
    name = f"{spec.model.get('name', 'model')} ({run})"
    version = f"medclass {spec.versions.get('medclass', 'unknown')}; run {run}"
    metrics = card.get("test_metrics") or {}
    lines = [f"test split: {card.get('test_images') or '?'} images; 95% CIs in brackets"] if metrics else []
    lines += [f"test {label}: {text}" for label, text in metrics.items()]
    decision = spec.decision
    if decision.threshold is not None:
        lines.append(
            f"operating point: P({decision.positive_class}) >= {decision.threshold:.4g} "
            f"({decision.rule or 'fixed'}, chosen on {decision.chosen_on})"
        )
    return ModelIdentity(name=name, version=version, parameters=tuple(lines))


@dataclass
class ReportBuilder:
    """Builds the results of one instance: its SR (and, when given, more objects such as an overlay), and
    hands the finding to each writer of side outputs (the FHIR resources)."""

    model: ModelIdentity
    codes_of: Mapping[str, hd.sr.CodedConcept]
    extra: Sequence[Callable[[str, Dataset, Finding], Dataset]] = ()
    writers: Sequence[Callable[[Dataset, Finding], object]] = ()

    def __call__(self, source: Dataset, finding: Finding, path: str) -> list[Dataset]:
        """The SR of ``finding`` for ``source`` (read from the file ``path``), then each extra object (called
        with ``path``, ``source`` and ``finding``); each writer is called once."""
        results = [build_report(source, finding, self.model, self.codes_of)]
        results += [make(path, source, finding) for make in self.extra]
        for write in self.writers:
            write(source, finding)
        return results


def report_builder(
    source: str | Path, spec: ModelSpec, card: Mapping[str, Any], codes: str | Path | None = None
) -> ReportBuilder:
    """The builder of each instance's results for the model at ``source``: the SR with the model's identity
    (``card``: run, test metrics with CIs; the operating point of ``spec``) and the class codes of ``codes``
    (default: ``codes.yaml`` in the run or bundle folder when there is one, else the local scheme)."""
    folder = Path(source) if Path(source).is_dir() else Path(source).parent
    if codes is None and (folder / CODES_FILE).is_file():
        codes = folder / CODES_FILE
    return ReportBuilder(identity_of(spec, card, source), read_codes(codes, spec.classes))
