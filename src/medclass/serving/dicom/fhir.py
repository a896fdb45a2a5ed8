"""``--fhir-out DIR``: the node's findings as FHIR R4 resources (``fhir.resources``' R4B models, the technical
correction of R4 with the same DiagnosticReport and Observation), one Bundle per study.

``DIR/<StudyInstanceUID>.json`` is a collection Bundle: a DiagnosticReport of the study whose ``result`` lists
one Observation per classified instance (the decided class as a coded value, each class probability, the
operating point and whether the case reaches it as components, the source SOP instance in ``derivedFrom``).
Each instance's Observation is kept in ``DIR/<StudyInstanceUID>/<SOPInstanceUID>.json``; the Bundle is rebuilt
from them (atomically) when one is added, so it always lists every instance reported so far. Everything is
``preliminary`` and says "decision support only".
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from highdicom.sr import CodedConcept
from pydicom import Dataset

from medclass.serving.dicom.finding import Finding
from medclass.serving.dicom.report import DECISION_SUPPORT, ModelIdentity
from medclass.utils.io import atomic_write

SYSTEMS = {  # DICOM coding scheme designator -> FHIR code system (HL7 FHIR R4, terminologies)
    "SCT": "http://snomed.info/sct",
    "LN": "http://loinc.org",
    "DCM": "http://dicom.nema.org/resources/ontology/DCM",
    "UCUM": "http://unitsofmeasure.org",
}
UID_SYSTEM = "urn:ietf:rfc:3986"  # a DICOM UID as urn:oid:<uid>


def coding(concept: CodedConcept) -> dict[str, str]:
    """A FHIR Coding of a DICOM coded concept (a private scheme becomes ``urn:dicom:coding-scheme:<name>``)."""
    system = SYSTEMS.get(concept.scheme_designator, f"urn:dicom:coding-scheme:{concept.scheme_designator}")
    return {"system": system, "code": str(concept.value), "display": str(concept.meaning)}


def _quantity(value: float) -> dict[str, Any]:
    return {"value": round(float(value), 6), "unit": "1", "system": SYSTEMS["UCUM"], "code": "1"}


def observation(
    source: Dataset, finding: Finding, model: ModelIdentity, codes_of: Mapping[str, CodedConcept]
) -> dict[str, Any]:
    """The FHIR Observation (JSON) of ``finding`` for the instance ``source``."""
    components = [
        {"code": {"text": f"Probability of {name}"}, "valueQuantity": _quantity(p)}
        for name, p in zip(finding.classes, finding.probs, strict=True)
    ]
    if finding.threshold is not None:
        components.append(
            {"code": {"text": "Operating point"}, "valueQuantity": _quantity(finding.threshold)}
        )
        components.append(
            {"code": {"text": "At or above the operating point"}, "valueBoolean": bool(finding.above)}
        )
    if finding.uncertain is not None:
        components.append({"code": {"text": "Uncertain prediction"}, "valueBoolean": bool(finding.uncertain)})
    return {
        "resourceType": "Observation",
        "id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{source.SOPInstanceUID}/{model.uid}")),
        "status": "preliminary",
        "code": {"text": f"AI image classification ({model.name})"},
        "subject": {
            "identifier": {"value": str(source.get("PatientID", ""))},
            "display": str(source.get("PatientName", "")),
        },
        "valueCodeableConcept": {"coding": [coding(codes_of[finding.label])], "text": finding.label},
        "component": components,
        "derivedFrom": [{"identifier": {"system": UID_SYSTEM, "value": f"urn:oid:{source.SOPInstanceUID}"}}],
        "device": {"display": f"{model.name}; {model.version}"},
        "note": [{"text": DECISION_SUPPORT}, *({"text": line} for line in model.parameters)],
    }


def study_bundle(study_uid: str, observations: list[dict[str, Any]], model: ModelIdentity) -> dict[str, Any]:
    """The collection Bundle of a study: its DiagnosticReport and the Observations it lists (validated)."""
    from fhir.resources.R4B.bundle import Bundle

    urls = [f"urn:uuid:{o['id']}" for o in observations]
    labels = [o["valueCodeableConcept"]["text"] for o in observations]
    counts = ", ".join(f"{label} {labels.count(label)}" for label in sorted(set(labels)))
    report = {
        "resourceType": "DiagnosticReport",
        "id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{study_uid}/{model.uid}")),
        "status": "preliminary",
        "code": {"text": f"AI image classification report ({model.name})"},
        "subject": observations[0]["subject"],
        "result": [{"reference": url} for url in urls],
        "conclusion": f"{len(observations)} image(s): {counts}. {DECISION_SUPPORT}",
        "identifier": [{"system": UID_SYSTEM, "value": f"urn:oid:{study_uid}"}],
    }
    entries = [{"fullUrl": f"urn:uuid:{report['id']}", "resource": report}]
    entries += [{"fullUrl": url, "resource": o} for url, o in zip(urls, observations, strict=True)]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return json.loads(Bundle.model_validate(bundle).model_dump_json())


class FhirWriter:
    """Writes each finding's Observation and its study's Bundle under ``out`` (see the module docstring)."""

    def __init__(self, out: str | Path, model: ModelIdentity, codes_of: Mapping[str, CodedConcept]) -> None:
        self.out, self.model, self.codes_of = Path(out), model, codes_of
        self._lock = threading.Lock()

    def __call__(self, source: Dataset, finding: Finding) -> Path:
        """Record the Observation of ``source`` and rewrite its study's Bundle; the Bundle's path."""
        study = str(source.StudyInstanceUID)
        folder = self.out / study
        with self._lock:
            with atomic_write(folder / f"{source.SOPInstanceUID}.json") as handle:
                json.dump(observation(source, finding, self.model, self.codes_of), handle, indent=2)
            observations = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
            with atomic_write(self.out / f"{study}.json") as handle:
                json.dump(study_bundle(study, observations, self.model), handle, indent=2)
        return self.out / f"{study}.json"
