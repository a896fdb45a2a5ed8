"""DICOMweb STOW-RS in ``medclass serve`` (issue 24): real MR instances stored into serve with dicomweb-client
come back as SRs in Orthanc (through dicom-node's pipeline), garbage parts are answered in FailedSOPSequence,
a wrong content type with 415, and serve without a DICOM destination answers 404 naming the flags."""

from __future__ import annotations

import copy
import io
import re
from pathlib import Path

import httpx
import pydicom
import pytest
from dicom_peers import group_of, orthanc_reports, read_all, referenced_uid, wait_for
from fastapi.testclient import TestClient
from serve_process import free_port, serve_process

from medclass.api.predict import predict
from medclass.api.serve import build_app

pytestmark = pytest.mark.xdist_group("dicom-node")  # the session's one Orthanc
STOW = 'multipart/related; type="application/dicom"; boundary=medclass-test'


def stow_body(parts: list[bytes]) -> bytes:
    """A ``multipart/related`` body (boundary ``medclass-test``) of ``parts`` as ``application/dicom``."""
    body = b"".join(
        b"--medclass-test\r\nContent-Type: application/dicom\r\n\r\n" + part + b"\r\n" for part in parts
    )
    return body + b"--medclass-test--\r\n"


def file_bytes(ds: pydicom.Dataset) -> bytes:
    """``ds`` as a DICOM file (with its file meta)."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def answer_of(response: httpx.Response) -> pydicom.Dataset:
    """A STOW-RS response body (``application/dicom+json``) as a data set."""
    assert response.headers["content-type"] == "application/dicom+json", response.text
    return pydicom.Dataset.from_json(response.json())


@pytest.mark.realdata
def test_stow_rs_into_serve_sends_one_sr_per_instance_to_orthanc_equal_to_predict(
    trained_run: Path, mr_study: list[Path], orthanc, tmp_path: Path
) -> None:
    from dicomweb_client import DICOMwebClient

    orthanc.clear()
    paths = mr_study[:3]
    sources = read_all(paths)
    uids = sorted(str(ds.SOPInstanceUID) for ds in sources)
    spool = tmp_path / "spool"
    args = ("--dicom-stow-url", orthanc.dicomweb_url, "--dicom-spool", str(spool))
    with serve_process(trained_run, *args, log=tmp_path / "serve.log") as served:
        answer = DICOMwebClient(f"{served.url}/dicomweb").store_instances(sources)
        assert sorted(i.ReferencedSOPInstanceUID for i in answer.ReferencedSOPSequence) == uids
        assert "FailedSOPSequence" not in answer
        reports = wait_for(lambda: orthanc_reports(orthanc, len(sources)), what="one SR per instance")

        url = f"{served.url}/dicomweb/studies"
        mixed = httpx.post(
            url, content=stow_body([file_bytes(sources[0]), b"not DICOM"]), headers={"content-type": STOW}
        )
        assert mixed.status_code == 202, mixed.text
        partly = answer_of(mixed)  # the repeat is acknowledged (stored before), the garbage part refused
        assert [i.ReferencedSOPInstanceUID for i in partly.ReferencedSOPSequence] == [
            sources[0].SOPInstanceUID
        ]
        assert [i.FailureReason for i in partly.FailedSOPSequence] == [0xC210]

        study = f"{url}/{sources[0].StudyInstanceUID}"
        other = copy.deepcopy(sources[1])
        other.StudyInstanceUID = pydicom.uid.generate_uid()
        refused = httpx.post(study, content=stow_body([file_bytes(other)]), headers={"content-type": STOW})
        assert refused.status_code == 409, refused.text
        assert [i.FailureReason for i in answer_of(refused).FailedSOPSequence] == [0xA900]

        form = httpx.post(url, files={"file": ("a.dcm", file_bytes(sources[0]), "application/dicom")})
        assert form.status_code == 415 and "multipart/related" in form.json()["detail"], form.text
        torn = httpx.post(
            url, content=b"--medclass-test\r\nContent-Type: applic", headers={"content-type": STOW}
        )
        assert torn.status_code == 400, torn.text
    assert sorted(referenced_uid(r) for r in reports) == uids  # one SR per instance, none for the repeat
    assert sorted((spool / "reported.txt").read_text().split()) == uids
    table = predict(trained_run, paths).set_index("path")
    classes = [c.removeprefix("p_") for c in table.columns if c.startswith("p_")]
    by_uid = {str(ds.SOPInstanceUID): str(path) for ds, path in zip(sources, paths, strict=True)}
    for report in reports:
        row, group = table.loc[by_uid[referenced_uid(report)]], group_of(report)
        assert report.StudyInstanceUID == sources[0].StudyInstanceUID
        assert group.finding_type.meaning == row["prediction"]
        probabilities = {m.name.meaning: m.value for m in group.get_measurements()}
        for name in classes:
            assert probabilities[f"Probability of {name}"] == pytest.approx(row[f"p_{name}"], abs=1e-5)


def test_stow_rs_without_a_destination_answers_404_naming_the_flags(trained_run: Path) -> None:
    app = build_app(trained_run)
    with TestClient(app) as client:
        response = client.post("/dicomweb/studies", content=stow_body([b"x"]), headers={"content-type": STOW})
        assert "/dicomweb/studies" in client.get("/openapi.json").json()["paths"]
    assert response.status_code == 404, response.text
    detail = response.json()["detail"]
    assert "--dicom-send-to" in detail and "--dicom-stow-url" in detail


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        ({"dicom_send_to": "PACS:104"}, "--dicom-send-to 'PACS:104'"),
        ({"dicom_stow_url": "ftp://pacs"}, "--dicom-stow-url 'ftp://pacs'"),
        ({"dicom_spool": "spool"}, "give exactly one destination: --dicom-send-to"),
        ({"dicom_stow_url": "http://pacs", "workers": 2}, "--workers 1"),
    ],
)
def test_bad_dicom_flags_are_refused_before_the_model_loads(
    trained_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: dict, named: str
) -> None:
    from medclass.api.serve import serve
    from medclass.utils.errors import ConfigError

    monkeypatch.chdir(tmp_path)  # where a default or relative spool would be made
    with pytest.raises(ConfigError, match=re.escape(named)):
        serve(trained_run, port=free_port(), **flags)
    assert list(tmp_path.iterdir()) == []  # no spool made
