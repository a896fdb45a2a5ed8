"""The node's spool folder: every received instance is on disk before it is processed, and what was reported
is recorded, so a crash loses nothing and a restart neither skips nor repeats an instance.

Layout (one folder, owned by the node)::

    incoming/<SOPInstanceUID>.dcm   received, not yet reported (written atomically, then acknowledged)
    outbox/<SOPInstanceUID>/        the results built for it (sr.dcm, ...), kept until they are delivered
    failed/<SOPInstanceUID>.dcm     accepted but unreadable by the model's reader (with a .txt reason)
    reported.txt                    one SOP Instance UID per line, appended after the destination stored it

An instance leaves ``incoming`` and ``outbox`` only after its UID is in ``reported.txt``. A crash between the
destination's acknowledgement and that line makes the restart send the same results again; their UIDs are
derived from the source instance (``report.report_uids``), so the PACS holds one copy.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

from pydicom import Dataset

from medclass.utils.errors import ConfigError
from medclass.utils.io import atomic_write

UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)*$")  # DICOM PS3.5 9.1: digits and dots, at most 64 characters
REPORTED_FILE = "reported.txt"
SPOOL_MARKER = ".medclass-dicom-spool"


def is_uid(value: str) -> bool:
    """Whether ``value`` is a syntactically valid UID (safe as a file name)."""
    return len(value) <= 64 and bool(UID_PATTERN.match(value))


class Spool:
    """The spool folder (see the module docstring). Thread-safe: the C-STORE handlers add, one worker drains."""

    def __init__(self, root: str | Path, flag: str = "--spool") -> None:
        self.root, self.flag = Path(root), flag
        self.incoming = self.root / "incoming"
        self.outbox = self.root / "outbox"
        self.failed = self.root / "failed"
        self._lock = threading.Lock()
        self._check_owner()
        for folder in (self.incoming, self.outbox, self.failed):
            folder.mkdir(parents=True, exist_ok=True)
        (self.root / SPOOL_MARKER).touch()
        self._reported = self._read_reported()

    def _check_owner(self) -> None:
        """A folder that holds other things than a spool is refused (its files are never touched)."""
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"{self.flag} {self.root}: not a folder")
        if self.root.is_dir() and any(self.root.iterdir()) and not (self.root / SPOOL_MARKER).exists():
            raise ConfigError(
                f"{self.flag} {self.root}: a folder that is not a dicom-node spool (no {SPOOL_MARKER})"
            )

    def _read_reported(self) -> set[str]:
        file = self.root / REPORTED_FILE
        return set(file.read_text(encoding="ascii").split()) if file.is_file() else set()

    def incoming_path(self, uid: str) -> Path:
        """Where the received instance ``uid`` is kept."""
        return self.incoming / f"{uid}.dcm"

    def results_dir(self, uid: str) -> Path:
        """The outbox folder of ``uid``'s results."""
        return self.outbox / uid

    def is_reported(self, uid: str) -> bool:
        """Whether ``uid``'s results were delivered."""
        with self._lock:
            return uid in self._reported

    def reported(self) -> set[str]:
        """Every UID delivered so far."""
        with self._lock:
            return set(self._reported)

    def known(self, uid: str) -> bool:
        """Whether ``uid`` was reported, is waiting or failed (a repeated C-STORE is then acknowledged only)."""
        return (
            self.is_reported(uid) or self.incoming_path(uid).exists() or (self.failed / f"{uid}.dcm").exists()
        )

    def receive(self, uid: str, dataset: Dataset) -> Path:
        """Write ``dataset`` (with its file meta) to ``incoming`` atomically and durably; its path."""
        path = self.incoming_path(uid)
        with atomic_write(path, "wb") as handle:
            dataset.save_as(handle, enforce_file_format=True)
            handle.flush()
            os.fsync(handle.fileno())
        return path

    def pending(self) -> list[Path]:
        """The received instances not yet reported, oldest first."""
        files = [p for p in self.incoming.glob("*.dcm") if not self.is_reported(p.stem)]
        return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))

    def mark_reported(self, uid: str) -> None:
        """Record ``uid`` as delivered (appended and synced), then drop its instance and results."""
        with self._lock:
            if uid not in self._reported:
                with (self.root / REPORTED_FILE).open("a", encoding="ascii") as handle:
                    handle.write(uid + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                self._reported.add(uid)
        self.incoming_path(uid).unlink(missing_ok=True)
        shutil.rmtree(self.results_dir(uid), ignore_errors=True)

    def mark_failed(self, uid: str, reason: str) -> None:
        """Move an accepted instance the model cannot read to ``failed`` with its reason."""
        (self.failed / f"{uid}.txt").write_text(reason + "\n", encoding="utf-8")
        os.replace(self.incoming_path(uid), self.failed / f"{uid}.dcm")
