"""The DICOM node: a C-STORE SCP (pynetdicom) that spools what it receives and a worker that classifies the
spooled instances through the one inference path, builds their reports and delivers them.

C-STORE statuses (DICOM PS3.4 Annex B, PS3.7 Annex C): ``0x0000`` stored in the spool (or already known: a
repeated instance is acknowledged, never reported twice); ``0x0122`` refused: not an image storage SOP class or
a modality outside ``--accept-modalities``; ``0xA900`` the data set does not match its SOP class (no pixel
data, or no study, series or SOP class UID); ``0xC000`` cannot understand (multi-frame, or pixels this installation cannot decode: a compressed
transfer syntax without its plugin); ``0xC210`` the data set could not be decoded at all; ``0xA700`` out of
resources (the spool could not be written). Every refusal is logged with the instance and the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom import Dataset

from medclass.inference.runner import Predictor
from medclass.serving.dicom.finding import Finding, findings_of
from medclass.serving.dicom.spool import Spool, is_uid

NOT_SUPPORTED, NOT_MATCHING, CANNOT_UNDERSTAND, UNDECODABLE, OUT_OF_RESOURCES = (
    0x0122,
    0xA900,
    0xC000,
    0xC210,
    0xA700,
)
BATCH = 32  # instances classified per forward pass
MAX_BACKOFF_S = 60.0


@dataclass
class NodeSettings:
    """What the node does besides classifying.

    Attributes:
        ae_title: the node's AE title (its calling title when it delivers).
        accept_modalities: modalities classified (others are refused with ``0x0122``).
        flag_uncertain: entropy limit (nats) of the uncertainty flag (None: no flag).
        first_backoff_s: the first wait after a failed delivery (doubling up to :data:`MAX_BACKOFF_S`).
    """

    ae_title: str = "MEDCLASS"
    accept_modalities: tuple[str, ...] = ("CR", "DX", "MR")
    flag_uncertain: float | None = None
    first_backoff_s: float = 1.0


ResultBuilder = Callable[[Dataset, Finding, str], list[Dataset]]


def refusal(ds: Dataset, accept: Sequence[str]) -> tuple[int, str] | None:
    """Why ``ds`` cannot be classified, as ``(status, reason)``; None when it can."""
    absent = [k for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID") if k not in ds]
    if absent:
        return NOT_MATCHING, f"required attribute(s) missing: {', '.join(absent)}"
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        return NOT_MATCHING, "no pixel data"
    modality = str(ds.get("Modality", "")).upper()
    if modality not in accept:
        return NOT_SUPPORTED, f"modality {modality or '(none)'} is not one of {','.join(accept)}"
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        return CANNOT_UNDERSTAND, f"multi-frame ({ds.NumberOfFrames} frames): one image per instance expected"
    try:
        ds.pixel_array  # noqa: B018 (decoding is the check: a compressed syntax needs its plugin)
    except Exception as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", syntax)
        return CANNOT_UNDERSTAND, f"pixel data cannot be decoded ({name}: {str(exc)[:120]})"
    return None


def status(code: int, comment: str | None = None) -> Dataset:
    """A C-STORE response status with an error comment (at most 64 characters, LO)."""
    answer = Dataset()
    answer.Status = code
    if comment:
        answer.ErrorComment = comment[:64]
    return answer


@dataclass
class DicomNode:
    """The spool, the model and the destination; :meth:`handle_store` is the C-STORE handler and
    :meth:`work` the worker loop (run by :meth:`serve`)."""

    predictor: Predictor
    spool: Spool
    sender: object  # CStoreSender or StowSender: deliver(groups, stored)
    build_results: ResultBuilder
    settings: NodeSettings = field(default_factory=NodeSettings)
    log: Callable[[str], None] = print
    model_lock: AbstractContextManager = field(default_factory=threading.Lock)  # serve shares its model's
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    def handle_store(self, event) -> Dataset:
        """The C-STORE handler: decode the received data set and :meth:`accept` it; never raises."""
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
        except Exception as exc:  # a malformed data set: answer and keep serving
            return self._refuse(
                "(undecodable)", UNDECODABLE, f"data set cannot be decoded ({str(exc)[:200]})"
            )
        return self.accept(ds)

    def accept(self, ds: Dataset) -> Dataset:
        """Spool one received instance (or refuse it) and wake the worker: the one entry of C-STORE and
        STOW-RS (``medclass serve``). The answer's ``Status`` is ``0x0000`` when the instance is in the spool
        (or was received before); a refusal carries its code and the reason in ``ErrorComment``. Never raises.
        """
        try:
            uid = str(ds.SOPInstanceUID)
        except Exception as exc:  # a malformed element
            return self._refuse(
                "(undecodable)", UNDECODABLE, f"data set cannot be decoded ({str(exc)[:200]})"
            )
        if not is_uid(uid):
            return self._refuse(repr(uid[:80]), UNDECODABLE, "invalid SOP Instance UID")
        if self.spool.known(uid):
            self.log(f"{uid}: already received, not reported again")
            return status(0x0000)
        try:
            reason = refusal(ds, self.settings.accept_modalities)
        except Exception as exc:  # a malformed element met while checking
            reason = (UNDECODABLE, f"malformed data set ({str(exc)[:120]})")
        if reason is not None:
            return self._refuse(uid, *reason)
        try:
            self.spool.receive(uid, ds)
        except Exception as exc:  # disk full, permissions, or a data set that cannot be written back
            self.log(f"{uid}: cannot be spooled ({str(exc)[:200]})")
            return status(OUT_OF_RESOURCES, "cannot be spooled")
        self._wake.set()
        return status(0x0000)

    def _refuse(self, uid: str, code: int, reason: str) -> Dataset:
        """Log a refusal and answer it."""
        self.log(f"{uid}: refused (0x{code:04X}): {reason}")
        return status(code, reason)

    def classify(self, paths: Sequence[Path]) -> None:
        """Classify spooled instances whose results are not built yet and write those results to the outbox."""
        todo = [p for p in paths if not (self.spool.results_dir(p.stem) / "done").exists()]
        if not todo:
            return
        with self.model_lock:
            result = self.predictor.predict_files([str(p) for p in todo])
        findings = findings_of(result, self.predictor.meta, self.settings.flag_uncertain)
        for path, reason in result.failures.items():
            self.log(f"{Path(path).stem}: the model's reader cannot read it ({reason}); moved to failed/")
            self.spool.mark_failed(Path(path).stem, reason)
        for path in todo:
            finding = findings.get(str(path))
            if finding is None:
                continue
            source = pydicom.dcmread(path, stop_before_pixels=True)  # the report needs the header only
            try:
                results = self.build_results(source, finding, str(path))
            except Exception as exc:  # one instance whose report cannot be built must not block the others
                self.log(
                    f"{path.stem}: no report can be built ({type(exc).__name__}: {str(exc)[:200]}); moved to failed/"
                )
                self.spool.mark_failed(path.stem, f"report: {exc}")
                continue
            folder = self.spool.results_dir(path.stem)
            folder.mkdir(parents=True, exist_ok=True)
            for i, ds in enumerate(results):
                ds.save_as(folder / f"{i:02d}.dcm", enforce_file_format=True)
            (folder / "done").touch()

    def deliver(self, paths: Sequence[Path]) -> None:
        """Send the built results of ``paths`` (one association or request per batch) and record each instance
        as reported once the destination stored its results.

        Raises:
            DeliveryError: the destination did not store them (what was not stored stays in the spool).
        """
        ready = [p for p in paths if (self.spool.results_dir(p.stem) / "done").exists()]
        if not ready:
            return
        groups = [
            [pydicom.dcmread(f) for f in sorted(self.spool.results_dir(p.stem).glob("*.dcm"))] for p in ready
        ]

        def stored(i: int) -> None:
            self.spool.mark_reported(ready[i].stem)
            self.log(f"{ready[i].stem}: reported ({len(groups[i])} object(s) to {self.sender})")

        self.sender.deliver(groups, stored)

    def work(self) -> None:
        """Process the spool until :meth:`stop`: classify, deliver, back off while the destination is down."""
        from medclass.serving.dicom.senders import DeliveryError

        backoff = self.settings.first_backoff_s
        while not self._stop.is_set():
            self._wake.clear()
            pending = self.spool.pending()
            if not pending:
                self._wake.wait(1.0)
                continue
            batch = pending[:BATCH]
            try:
                self.classify(batch)
                self.deliver([p for p in batch if p.exists()])
                backoff = self.settings.first_backoff_s
            except DeliveryError as exc:
                self.log(f"delivery failed, kept in the spool, retry in {backoff:g} s: {exc}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            except Exception as exc:  # a bug or a bad file must not take the node down: log and go on
                self.log(f"processing failed, retry in {backoff:g} s: {type(exc).__name__}: {str(exc)[:300]}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    def stop(self) -> None:
        """Ask the worker to end after its current step."""
        self._stop.set()
        self._wake.set()

    def start_worker(self) -> threading.Thread:
        """Run :meth:`work` in a daemon thread (until :meth:`stop`); that thread."""
        worker = threading.Thread(target=self.work, name="dicom-node-worker", daemon=True)
        worker.start()
        return worker

    def serve(self, host: str, port: int, ready: Callable[[], None] | None = None) -> None:
        """Listen on ``host:port`` and process the spool until :meth:`stop` (or Ctrl+C / SIGTERM in the caller)."""
        from pynetdicom import AE, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import Verification

        ae = AE(ae_title=self.settings.ae_title)
        syntaxes = [str(uid) for uid in pydicom.uid.AllTransferSyntaxes]
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, syntaxes)
        ae.add_supported_context(Verification)
        server = ae.start_server(
            (host, port), block=False, evt_handlers=[(evt.EVT_C_STORE, self.handle_store)]
        )
        worker = self.start_worker()
        if ready is not None:
            ready()
        try:
            while not self._stop.is_set():
                self._stop.wait(0.5)
        finally:
            self.stop()
            server.shutdown()
            worker.join(timeout=30)
