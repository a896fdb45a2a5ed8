"""The peers of the dicom-node tests: a real PACS (Orthanc on loopback), a DICOM SCU that sends instances, a
recording C-STORE SCP that can be down, and real brain MRI images as MR instances of one study."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import highdicom as hd
import pydicom
import pytest
from mr_images import write_mr_study
from orthanc_pacs import Orthanc, orthanc_server
from pydicom import Dataset


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """One Orthanc for the session (tests clear it first: ``orthanc.clear()``)."""
    with orthanc_server(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture(scope="session")
def mr_study(shared_datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six real brain MRI images (3 yes, 3 no) as MR DICOM instances of one study."""
    root = shared_datasets / "brain_mri_yesno"
    images = [p for label in ("yes", "no") for p in sorted((root / label).iterdir())[:3]]
    return write_mr_study(images, tmp_path_factory.mktemp("mr-study"))


def c_store(port: int, datasets: list[Dataset], ae_title: str = "MEDCLASS") -> list[int]:
    """Send ``datasets`` to ``127.0.0.1:port`` in one association (pynetdicom SCU); the status of each."""
    from pynetdicom import AE

    ae = AE(ae_title="TESTSCU")
    for uid, syntax in sorted(
        {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets}
    ):
        ae.add_requested_context(uid, syntax)
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
    assert assoc.is_established, f"no association with 127.0.0.1:{port}"
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


def read_all(paths: list[Path]) -> list[Dataset]:
    """The data sets of ``paths``."""
    return [pydicom.dcmread(p) for p in paths]


class RecordingScp:
    """A C-STORE SCP on loopback that keeps every data set it is sent (duplicates included)."""

    def __init__(self, port: int, ae_title: str = "RECORDER") -> None:
        self.port, self.ae_title = port, ae_title
        self.received: list[Dataset] = []
        self.arrivals: list[float] = []  # time.perf_counter() of each receipt
        self._lock = threading.Lock()

    def _store(self, event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        with self._lock:
            self.received.append(ds)
            self.arrivals.append(time.perf_counter())
        return 0x0000

    @contextmanager
    def running(self) -> Iterator[RecordingScp]:
        """Listen while the block runs."""
        from pynetdicom import AE, AllStoragePresentationContexts, evt

        ae = AE(ae_title=self.ae_title)
        ae.supported_contexts = AllStoragePresentationContexts
        server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._store)]
        )
        try:
            yield self
        finally:
            server.shutdown()


def wait_for(check: Callable[[], Any], timeout: float = 60, what: str = "the condition") -> Any:
    """Poll ``check`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def orthanc_reports(server, count: int) -> list[pydicom.Dataset] | None:
    """The SR instances Orthanc holds once there are ``count`` (None before)."""
    return orthanc_instances(server, "SR", count)


def orthanc_instances(server, modality: str, count: int) -> list[pydicom.Dataset] | None:
    """The instances of ``modality`` Orthanc holds once there are ``count`` (None before)."""
    found = server.post("/tools/find", {"Level": "Instance", "Query": {"Modality": modality}})
    if len(found) < count:
        return None
    return [pydicom.dcmread(io.BytesIO(server.get(f"/instances/{i}/file").content)) for i in found]


def group_of(report: pydicom.Dataset) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """The image measurement group of a medclass SR, parsed with highdicom."""
    (group,) = hd.sr.ComprehensiveSR.from_dataset(report).content.get_image_measurement_groups()
    return group


def referenced_uid(report: pydicom.Dataset) -> str:
    """The source SOP Instance UID the report's measurement group points at."""
    return group_of(report).source_images[0].referenced_sop_instance_uid
