"""``medclass dicom-node`` against real peers on loopback: Orthanc (C-STORE and STOW-RS), a pynetdicom SCU that
sends real brain MRI images as MR instances, a recording SCP that is down and then up, a node killed with
SIGKILL and restarted on its spool."""

from __future__ import annotations

import copy
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydicom
import pytest
from console_script import console_script, script_env
from dicom_peers import (
    RecordingScp,
    c_store,
    group_of,
    orthanc_instances,
    orthanc_reports,
    read_all,
    referenced_uid,
    wait_for,
)
from pydicom.uid import JPEG2000Lossless
from requirements_gate import missing
from serve_process import free_port

from medclass.api.dicom_node import dicom_node
from medclass.api.predict import predict

pytestmark = pytest.mark.xdist_group("dicom-node")


@contextmanager
def node_thread(source: Path, spool: Path, port: int, **options: Any) -> Iterator[tuple[Any, list[str]]]:
    """The node (``medclass.api.dicom_node``) in a thread of this process: ``(node, log lines)``."""
    lines: list[str] = []
    holder: dict[str, Any] = {}
    started = threading.Event()

    def ready(node: Any) -> None:
        holder["node"] = node
        started.set()

    kwargs = {
        "port": port,
        "spool": spool,
        "say": lambda line: lines.append(f"{time.perf_counter():.2f} {line}"),
        "ready": ready,
        **options,
    }
    thread = threading.Thread(target=dicom_node, args=(source,), kwargs=kwargs, daemon=True)
    thread.start()
    wait_for(lambda: started.is_set() or not thread.is_alive(), what="the node to listen")
    assert started.is_set(), f"the node did not start: {lines}"
    try:
        yield holder["node"], lines
    finally:
        holder["node"].stop()
        thread.join(30)


def texts(item: pydicom.Dataset) -> list[str]:
    """Every text value of an SR content tree (the algorithm's parameters among them)."""
    found = [str(item.TextValue)] if "TextValue" in item else []
    for child in item.get("ContentSequence", []):
        found += texts(child)
    return found


def dciodvfy_errors(report: pydicom.Dataset, folder: Path) -> list[str]:
    """The error lines of dicom3tools' ``dciodvfy`` on ``report``."""
    if shutil.which("dciodvfy") is None:
        missing("dciodvfy (apt-get install dicom3tools; make sysdeps)")
    path = folder / "report.dcm"
    report.save_as(path, enforce_file_format=True)
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


@pytest.mark.realdata
def test_orthanc_round_trip_one_report_per_instance_equal_to_predict(
    trained_run: Path, mr_study: list[Path], orthanc, tmp_path: Path
) -> None:
    orthanc.clear()
    sources = read_all(mr_study)
    assert c_store(orthanc.dicom_port, sources, ae_title=orthanc.ae_title) == [0] * len(
        sources
    )  # the PACS has them
    port = free_port()
    with node_thread(trained_run, tmp_path / "spool", port, send_to=orthanc.send_to) as (_, log):
        assert c_store(port, sources) == [0] * len(sources)
        reports = wait_for(lambda: orthanc_reports(orthanc, len(sources)), what="one SR per instance")
    table = predict(trained_run, mr_study, dicom_sr=tmp_path / "offline")  # the same reports, as files
    expected = table.set_index("path")
    offline = {referenced_uid(r): r for r in read_all([Path(p) for p in table.attrs["dicom_sr"]])}
    by_uid = {str(ds.SOPInstanceUID): str(path) for ds, path in zip(sources, mr_study, strict=True)}
    assert sorted(referenced_uid(r) for r in reports) == sorted(by_uid), log
    classes = [c.removeprefix("p_") for c in expected.columns if c.startswith("p_")]
    for report in reports:
        row = expected.loc[by_uid[referenced_uid(report)]]
        group = group_of(report)
        assert report.StudyInstanceUID == sources[0].StudyInstanceUID
        assert report.SeriesDescription.startswith("AI output")
        assert group.finding_type.meaning == row["prediction"]
        probabilities = {m.name.meaning: m.value for m in group.get_measurements()}
        for name in classes:
            assert probabilities[f"Probability of {name}"] == pytest.approx(row[f"p_{name}"], abs=1e-5)
        evidence = report.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
        assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == referenced_uid(report)
        same = offline[referenced_uid(report)]
        assert (
            same.SOPInstanceUID == report.SOPInstanceUID
        )  # derived from the source: one report, however made
        assert texts(same) == texts(report) and group_of(same).finding_type == group.finding_type
        lines = texts(report)
        assert any(line.startswith("Decision support only") for line in lines), lines
        assert any(line.startswith("test AUROC: ") and "[" in line for line in lines), lines  # with its CI
    study = orthanc.get("/studies").json()
    assert (
        len(study) == 1 and len(orthanc.get(f"/studies/{study[0]}/series").json()) == 2
    )  # MR + the AI series
    assert dciodvfy_errors(reports[0], tmp_path) == []


@pytest.mark.realdata
def test_stow_rs_to_orthanc_dicomweb_with_overlays_and_a_fhir_report_per_study(
    trained_run: Path, mr_study: list[Path], orthanc, tmp_path: Path
) -> None:
    from fhir.resources.R4B.bundle import Bundle

    orthanc.clear()
    sources = read_all(mr_study[:2])
    port, fhir = free_port(), tmp_path / "fhir"
    options = {"stow_url": orthanc.dicomweb_url, "fhir_out": fhir, "overlay": True}
    with node_thread(trained_run, tmp_path / "spool", port, **options):
        assert c_store(port, sources) == [0, 0]
        reports = wait_for(lambda: orthanc_reports(orthanc, 2), what="two SRs")
        overlays = wait_for(lambda: orthanc_instances(orthanc, "OT", 2), what="two overlays")
    assert sorted(referenced_uid(r) for r in reports) == sorted(str(s.SOPInstanceUID) for s in sources)
    for image in overlays:  # the explanation over the input, in the same study, in an AI series
        assert image.StudyInstanceUID == sources[0].StudyInstanceUID
        assert (
            image.SeriesDescription.startswith("AI output")
            and "decision support only" in image.SeriesDescription
        )
        assert image.pixel_array.shape[-1] == 3 and image.pixel_array.std() > 0
    assert sorted(str(i.SourceImageSequence[0].ReferencedSOPInstanceUID) for i in overlays) == sorted(
        str(s.SOPInstanceUID) for s in sources
    )
    bundle = Bundle.model_validate_json((fhir / f"{sources[0].StudyInstanceUID}.json").read_text())
    resources = [entry.resource for entry in bundle.entry]
    report, observations = resources[0], resources[1:]
    assert report.get_resource_type() == "DiagnosticReport" and report.status == "preliminary"
    assert [r.reference for r in report.result] == [str(e.fullUrl) for e in bundle.entry[1:]]
    assert "Decision support only" in report.conclusion
    sr_of = {referenced_uid(r): group_of(r) for r in reports}
    for obs in observations:
        group = sr_of[obs.derivedFrom[0].identifier.value.removeprefix("urn:oid:")]
        assert obs.valueCodeableConcept.text == group.finding_type.meaning
        probabilities = {  # the quantities (the "at or above the operating point" component is a boolean)
            c.code.text: float(c.valueQuantity.value) for c in obs.component if c.valueQuantity is not None
        }
        for m in group.get_measurements():
            if m.name.meaning.startswith("Probability of "):
                assert probabilities[m.name.meaning] == pytest.approx(m.value, abs=1e-5)
            else:  # the SR's operating point, named at length there
                assert m.name.meaning.startswith("Operating point")
                assert probabilities["Operating point"] == pytest.approx(m.value, abs=1e-5)


def _refused_variants(source: pydicom.Dataset) -> dict[str, tuple[pydicom.Dataset, int]]:
    """Instances the node must refuse, each with the status it must answer."""

    def variant(**changes: Any) -> pydicom.Dataset:
        ds = copy.deepcopy(source)
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        for key, value in changes.items():
            setattr(ds, key, value)
        return ds

    no_pixels = variant()
    del no_pixels.PixelData
    frames = variant(NumberOfFrames=2)
    frames.PixelData = source.PixelData * 2
    undecodable = variant()
    undecodable.file_meta.TransferSyntaxUID = JPEG2000Lossless
    undecodable.PixelData = pydicom.encaps.encapsulate([b"\xff\x4f\xff\x51 not a codestream"])
    truncated = variant()
    truncated.PixelData = source.PixelData[:100]
    bad_uid = variant()
    bad_uid.SOPInstanceUID = "../../escape"
    return {
        "wrong modality": (variant(Modality="CT"), 0x0122),
        "no pixel data": (no_pixels, 0xA900),
        "multi-frame": (frames, 0xC000),
        "undecodable compressed pixels": (undecodable, 0xC000),
        "truncated pixel data": (truncated, 0xC000),
        "invalid SOP Instance UID": (bad_uid, 0xC210),
    }


@pytest.mark.realdata
def test_garbage_is_refused_with_its_status_and_the_node_keeps_serving(
    trained_run: Path, mr_study: list[Path], tmp_path: Path
) -> None:
    source = read_all(mr_study[:1])[0]
    refused = _refused_variants(source)
    with RecordingScp(free_port()).running() as pacs:
        port = free_port()
        send_to = f"{pacs.ae_title}@127.0.0.1:{pacs.port}"
        with node_thread(trained_run, tmp_path / "spool", port, send_to=send_to) as (_, log):
            for name, (ds, expected) in refused.items():
                assert c_store(port, [ds]) == [expected], name
            assert c_store(port, [source]) == [0]  # still serving
            wait_for(lambda: pacs.received, what="the report of the good instance")
            assert c_store(port, [source]) == [0]  # sent again after its report: acknowledged, not reported
            wait_for(lambda: any("already received" in line for line in log), what="the repeat to be seen")
    assert [referenced_uid(r) for r in pacs.received] == [str(source.SOPInstanceUID)]
    assert sum(": refused (0x" in line for line in log) == len(refused), log
    assert not list((tmp_path / "spool" / "incoming").iterdir())


@pytest.mark.realdata
def test_a_destination_that_is_down_is_retried_and_nothing_is_lost(
    trained_run: Path, mr_study: list[Path], tmp_path: Path
) -> None:
    sources = read_all(mr_study[:2])
    pacs, port, spool = RecordingScp(free_port()), free_port(), tmp_path / "spool"
    send_to = f"{pacs.ae_title}@127.0.0.1:{pacs.port}"
    with node_thread(trained_run, spool, port, send_to=send_to) as (_, log):
        assert c_store(port, sources) == [0, 0]
        wait_for(lambda: any("delivery failed" in line for line in log), what="a failed delivery")
        assert len(list((spool / "incoming").iterdir())) == 2  # kept in the spool
        with pacs.running():
            wait_for(lambda: len(pacs.received) == 2, what="the retried delivery")
    assert sorted(referenced_uid(r) for r in pacs.received) == sorted(str(s.SOPInstanceUID) for s in sources)
    assert (spool / "reported.txt").read_text().split() == [referenced_uid(r) for r in pacs.received]


@pytest.mark.realdata
def test_kill_9_mid_batch_then_restart_reports_every_instance_exactly_once(
    trained_run: Path, mr_study: list[Path], tmp_path: Path
) -> None:
    sources = read_all(mr_study)
    spool, port, log = tmp_path / "spool", free_port(), tmp_path / "child.log"
    pacs = RecordingScp(free_port())
    send_to = f"{pacs.ae_title}@127.0.0.1:{pacs.port}"
    # The node as a user starts it, in its own process: a fork of the test process (torch's thread pools, the
    # xdist worker's threads) could deadlock, and a hang would cost the whole suite its timeout.
    command = [*console_script(), "dicom-node", str(trained_run), "--port", str(port), "--spool", str(spool)]
    with log.open("w") as output:
        child = subprocess.Popen(
            [*command, "--send-to", send_to],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=script_env(PYTHONUNBUFFERED="1"),
        )
    try:
        wait_for(lambda: "listening" in log.read_text(), what="the node process", timeout=120)
        assert c_store(port, sources) == [0] * len(sources)  # acknowledged: on disk in the spool
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert len(list((spool / "incoming").iterdir())) == len(
        sources
    )  # its destination was down: none reported
    with pacs.running(), node_thread(trained_run, spool, free_port(), send_to=send_to):
        wait_for(lambda: not list((spool / "incoming").iterdir()), what="the restart to drain the spool")
    uids = sorted(str(s.SOPInstanceUID) for s in sources)
    reported = (spool / "reported.txt").read_text().split()
    assert sorted(reported) == uids  # each exactly once
    report_of: dict[str, set[str]] = {}
    for report in pacs.received:  # a report sent again would carry the same UID: the PACS would keep one
        report_of.setdefault(referenced_uid(report), set()).add(str(report.SOPInstanceUID))
    assert sorted(report_of) == uids and all(len(v) == 1 for v in report_of.values())
    assert len(pacs.received) == len(sources)


@pytest.mark.realdata
def test_concurrent_associations_are_each_reported_exactly_once(
    trained_run: Path, mr_study: list[Path], tmp_path: Path
) -> None:
    """4 associations at once, 4 instances each (a bounded version of a router's burst; the 200-instance run is
    benchmarks/dicom_node.py): every instance acknowledged, reported once, and the reports sent back."""
    base = read_all(mr_study)
    batches = []
    for association in range(4):
        batch = []
        for k in range(4):
            ds = copy.deepcopy(base[(association * 4 + k) % len(base)])
            ds.SOPInstanceUID = pydicom.uid.generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            batch.append(ds)
        batches.append(batch)
    pacs, port, spool = RecordingScp(free_port()), free_port(), tmp_path / "spool"
    statuses: list[list[int]] = [[] for _ in batches]

    def send(i: int) -> None:
        statuses[i] = c_store(port, batches[i])

    with (
        pacs.running(),
        node_thread(trained_run, spool, port, send_to=f"{pacs.ae_title}@127.0.0.1:{pacs.port}"),
    ):
        senders = [threading.Thread(target=send, args=(i,)) for i in range(len(batches))]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join(120)
        wait_for(lambda: len(pacs.received) >= 16, timeout=120, what="16 reports")
    assert statuses == [[0] * 4] * 4
    uids = sorted(str(ds.SOPInstanceUID) for batch in batches for ds in batch)
    assert sorted(referenced_uid(r) for r in pacs.received) == uids  # each instance once, none lost
    assert sorted((spool / "reported.txt").read_text().split()) == uids
