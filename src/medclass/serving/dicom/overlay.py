"""``--overlay``: the default explanation over the input as a Secondary Capture image (highdicom), in the
source's study, in its own series labelled as AI output (decision support only).

The explanation is computed by the caller's function (the api passes ``medclass.explain.web``'s: feature
packages do not import each other); the image is the input as the model saw it (its size and crop).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.uid import generate_uid

from medclass.serving.dicom.finding import Finding
from medclass.serving.dicom.report import MANUFACTURER, ModelIdentity

OVERLAY_SERIES_DESCRIPTION = "AI output (medclass) - explanation - decision support only"
OVERLAY_SERIES_NUMBER = 9902

# (file paths, class indices) -> one uint8 H x W x 3 overlay per readable file
Explainer = Callable[[Sequence[str], Sequence[int]], list[np.ndarray]]


def _direction(cosines: Sequence[float]) -> str:
    """The patient direction letter of a direction cosine vector's main axis (DICOM PS3.3 C.7.6.1.1.1)."""
    axis = int(np.argmax(np.abs(cosines)))
    return ("L", "P", "H")[axis] if cosines[axis] > 0 else ("R", "A", "F")[axis]


def orientation_of(source: Dataset) -> tuple[str, str]:
    """The source's Patient Orientation (row, column directions): given, or from Image Orientation (Patient),
    else ``L``, ``P`` (an axial image as usually displayed)."""
    given = source.get("PatientOrientation")
    if given is not None and len(given) == 2 and all(given):
        return str(given[0]), str(given[1])
    cosines = source.get("ImageOrientationPatient")
    if cosines is not None and len(cosines) == 6:
        return _direction([float(c) for c in cosines[:3]]), _direction([float(c) for c in cosines[3:]])
    return "L", "P"


@dataclass
class OverlayMaker:
    """Builds the Secondary Capture of the explanation of one instance's decided class."""

    explain: Explainer
    model: ModelIdentity

    def __call__(self, path: str, source: Dataset, finding: Finding) -> Dataset:
        """The overlay of the file ``path`` (whose header is ``source``) for ``finding``'s class."""
        (pixels,) = self.explain([path], [finding.predicted])
        series = generate_uid(
            entropy_srcs=["medclass-overlay-series", str(source.StudyInstanceUID), self.model.uid]
        )
        instance = generate_uid(entropy_srcs=["medclass-overlay", str(source.SOPInstanceUID), self.model.uid])
        image = hd.sc.SCImage(
            pixel_array=np.ascontiguousarray(pixels),
            photometric_interpretation="RGB",
            bits_allocated=8,
            coordinate_system="PATIENT",
            patient_orientation=orientation_of(source),
            laterality=source.get("Laterality") or None,
            study_instance_uid=source.StudyInstanceUID,
            series_instance_uid=series,
            sop_instance_uid=instance,
            series_number=OVERLAY_SERIES_NUMBER,
            instance_number=int(source.get("InstanceNumber", 1) or 1),
            manufacturer=MANUFACTURER,
            patient_id=source.get("PatientID"),
            patient_name=source.get("PatientName"),
            patient_birth_date=source.get("PatientBirthDate"),
            patient_sex=source.get("PatientSex") or None,
            accession_number=source.get("AccessionNumber"),
            study_id=source.get("StudyID"),
            study_date=source.get("StudyDate") or None,
            study_time=source.get("StudyTime") or None,
            referring_physician_name=source.get("ReferringPhysicianName"),
            series_description=OVERLAY_SERIES_DESCRIPTION,
            manufacturer_model_name=self.model.name[:64],
            software_versions=self.model.version[:64],
        )
        image.ImageComments = f"{finding.label}: explanation of the decided class; decision support only"[
            :10240
        ]
        reference = Dataset()
        reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = (
            source.SOPClassUID,
            source.SOPInstanceUID,
        )
        image.SourceImageSequence = [reference]
        return image
