"""The SR of one finding, without a model: the operating point, the uncertainty flag and codes.yaml reach the
report, highdicom reads it back and dciodvfy accepts it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from dicom_files import write_dicom
from pydicom import dcmread
from requirements_gate import missing

from medclass.serving.dicom.codes import LOCAL_SCHEME, read_codes
from medclass.serving.dicom.finding import Finding
from medclass.serving.dicom.report import DECISION_SUPPORT, ModelIdentity, build_report
from medclass.utils.errors import ConfigError

CLASSES = ("no", "yes")
MODEL = ModelIdentity("cnn (run-a)", "medclass 0.1.0; run run-a", ("test AUROC: 0.900 [0.800, 0.960]",))


@pytest.fixture
def source(tmp_path: Path):
    path = write_dicom(
        tmp_path / "cr.dcm",
        np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 4096,
        bits=12,
        Modality="CR",
        StudyInstanceUID="1.2.3.4",
        SeriesInstanceUID="1.2.3.4.1",
        PatientID="P1",
        PatientName="Test^Patient",
    )
    return dcmread(path)


def _texts(item) -> list[str]:
    found = [str(item.TextValue)] if "TextValue" in item else []
    for child in item.get("ContentSequence", []):
        found += _texts(child)
    return found


def test_operating_point_uncertainty_and_site_codes_reach_the_report(source, tmp_path: Path) -> None:
    codes_yaml = tmp_path / "codes.yaml"
    codes_yaml.write_text('yes: {value: "126952004", scheme: SCT, meaning: "Neoplasm of brain"}\n')
    codes = read_codes(codes_yaml, CLASSES)
    finding = Finding(
        CLASSES, (0.3, 0.7), 1, threshold=0.62, positive_class="yes", above=True, uncertain=False
    )
    report = build_report(source, finding, MODEL, codes)
    path = tmp_path / "sr.dcm"
    report.save_as(path, enforce_file_format=True)

    back = hd.sr.srread(path)
    (group,) = back.content.get_image_measurement_groups()
    assert (group.finding_type.value, group.finding_type.scheme_designator) == ("126952004", "SCT")
    measurements = {m.name.meaning: m.value for m in group.get_measurements()}
    assert measurements["Probability of yes"] == pytest.approx(0.7)
    assert measurements["Operating point (threshold on the positive class probability)"] == pytest.approx(
        0.62
    )
    evaluations = {e.name.meaning: e.value.meaning for e in group.get_qualitative_evaluations()}
    assert evaluations["At or above the operating point"] == "Yes"
    assert evaluations["Uncertain prediction (predictive entropy above the limit)"] == "No"
    assert group.source_images[0].referenced_sop_instance_uid == source.SOPInstanceUID
    assert back.StudyInstanceUID == source.StudyInstanceUID and back.PatientID == "P1"
    assert DECISION_SUPPORT in _texts(back) and "test AUROC: 0.900 [0.800, 0.960]" in _texts(back)
    if shutil.which("dciodvfy") is None:
        missing("dciodvfy (apt-get install dicom3tools; make sysdeps)")
    checked = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    assert not [line for line in (checked.stdout + checked.stderr).splitlines() if line.startswith("Error")]


def test_the_same_source_and_model_give_the_same_report_uid_and_a_class_without_code_a_local_one(
    source,
) -> None:
    codes = read_codes(None, CLASSES)
    assert codes["no"].scheme_designator == LOCAL_SCHEME
    first = build_report(source, Finding(CLASSES, (0.8, 0.2), 0), MODEL, codes)
    again = build_report(source, Finding(CLASSES, (0.8, 0.2), 0), MODEL, codes)
    other = build_report(source, Finding(CLASSES, (0.8, 0.2), 0), ModelIdentity("cnn (run-b)", "x"), codes)
    assert first.SOPInstanceUID == again.SOPInstanceUID != other.SOPInstanceUID
    assert first.SeriesInstanceUID != source.SeriesInstanceUID


def test_a_codes_file_naming_an_unknown_class_or_lacking_a_field_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "codes.yaml"
    bad.write_text("maybe: {value: '1', scheme: SCT, meaning: x}\n")
    with pytest.raises(ConfigError, match="maybe.*not classes of the model"):
        read_codes(bad, CLASSES)
    bad.write_text("yes: {value: '1'}\n")
    with pytest.raises(ConfigError, match="'yes' needs value, scheme and meaning"):
        read_codes(bad, CLASSES)
