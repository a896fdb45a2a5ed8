"""The PACS (a real Orthanc on loopback), a small trained run, and real brain MRI images as MR DICOM files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from orthanc_pacs import Orthanc, orthanc_server


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """One Orthanc for the session (clear it before use: ``orthanc.clear()``)."""
    with orthanc_server(tmp_path_factory.mktemp("orthanc")) as server:
        yield server
