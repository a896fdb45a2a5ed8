"""A real PACS for the dicom-node tests: Orthanc (Debian packages ``orthanc``, ``orthanc-dicomweb``) started on
loopback with a generated configuration, never the system service."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from requirements_gate import missing
from serve_process import free_port

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
ORTHANC_AE = "ORTHANC"


@dataclass
class Orthanc:
    """A running Orthanc: its REST root, DICOMweb root, DICOM port and AE title."""

    url: str
    dicomweb_url: str
    dicom_port: int
    ae_title: str
    process: subprocess.Popen

    @property
    def send_to(self) -> str:
        """The ``--send-to`` value of the node: ``AE@HOST:PORT``."""
        return f"{self.ae_title}@127.0.0.1:{self.dicom_port}"

    def get(self, path: str) -> httpx.Response:
        """``GET`` on the REST API (raises for a status >= 400)."""
        response = httpx.get(f"{self.url}{path}", timeout=10)
        response.raise_for_status()
        return response

    def post(self, path: str, body: object) -> object:
        """``POST`` of a JSON body on the REST API; the parsed answer (raises for a status >= 400)."""
        response = httpx.post(f"{self.url}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def clear(self) -> None:
        """Delete every patient (so a test sees only what it sent)."""
        for patient in self.get("/patients").json():
            httpx.delete(f"{self.url}/patients/{patient}", timeout=10).raise_for_status()


def orthanc_config(storage: Path, http_port: int, dicom_port: int, node: tuple[str, int]) -> dict:
    """Orthanc's configuration: loopback only, the given ports, the DICOMweb plugin, the node as a modality,
    storage in ``storage``, no authentication (nothing outside this machine can reach it)."""
    return {
        "Name": "medclass-test-pacs",
        "StorageDirectory": str(storage / "db"),
        "IndexDirectory": str(storage / "db"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ORTHANC_AE,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpServerEnabled": True,
        "DicomServerEnabled": True,
        "DicomCheckCalledAetTitle": False,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowEcho": True,
        "DicomModalities": {"medclass": [node[0], "127.0.0.1", node[1]]},
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
        "StableAge": 1,
        "SaveJobs": False,
        "HttpTimeout": 30,
    }


@contextmanager
def orthanc_server(
    root: Path, node: tuple[str, int] = ("MEDCLASS", 11112), timeout: float = 30
) -> Iterator[Orthanc]:
    """Start Orthanc with :func:`orthanc_config` under ``root``, wait for ``/system``, stop it on exit.

    Skips the test (fails it with ``CI=true``) when Orthanc or its DICOMweb plugin is not installed.
    """
    binary = shutil.which("Orthanc")
    if binary is None or not DICOMWEB_PLUGIN.is_file():
        missing("Orthanc and its DICOMweb plugin (apt-get install orthanc orthanc-dicomweb; make sysdeps)")
    http_port = free_port()
    dicom_port = free_port()
    while dicom_port == http_port:
        dicom_port = free_port()
    config = root / "orthanc.json"
    config.write_text(json.dumps(orthanc_config(root, http_port, dicom_port, node), indent=2))
    log = (root / "orthanc.log").open("w")
    process = subprocess.Popen([binary, str(config)], stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"Orthanc exited ({process.returncode}): {(root / 'orthanc.log').read_text()}"
                )
            try:
                if httpx.get(f"{url}/system", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc did not answer /system in {timeout:g} s")
            time.sleep(0.1)
        yield Orthanc(url, f"{url}/dicom-web", dicom_port, ORTHANC_AE, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
