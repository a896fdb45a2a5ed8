"""Delivering results to the destination: C-STORE (pynetdicom SCU) to ``AE@HOST:PORT`` or STOW-RS
(dicomweb-client) to a DICOMweb URL. A delivery stores groups of datasets (the results of one instance), reports each stored group, and raises
:class:`DeliveryError` at the first failure; the node keeps what was not delivered in its spool and retries with back-off."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydicom import Dataset

from medclass.utils.errors import ConfigError

PEER_PATTERN = re.compile(r"^(?P<ae>[^@\\]{1,16})@(?P<host>[^:@]+|\[[0-9a-fA-F:]+\]):(?P<port>[0-9]{1,5})$")
SUCCESS_OR_WARNING = (
    0x0000,
    0xB000,
    0xB006,
    0xB007,
)  # PS3.4 B.2.3: stored (warnings: coerced, elements dropped)


class DeliveryError(Exception):
    """The destination did not store a result (down, refused the association, or a failure status)."""


@dataclass(frozen=True)
class Peer:
    """A DICOM application entity: title, host and port."""

    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


def parse_peer(text: str, flag: str = "--send-to") -> Peer:
    """``AE@HOST:PORT`` as a :class:`Peer`.

    Raises:
        ConfigError: not of that form, an AE title over 16 characters, or a port outside 1-65535.
    """
    match = PEER_PATTERN.match(text.strip())
    if not match or not 0 < int(match["port"]) < 65536:
        raise ConfigError(
            f"{flag} {text!r}: expected AE@HOST:PORT (AE title of 1-16 characters), e.g. PACS@10.0.0.5:104"
        )
    return Peer(match["ae"].strip(), match["host"].strip("[]"), int(match["port"]))


class CStoreSender:
    """C-STORE SCU: one association per delivery, every dataset stored or :class:`DeliveryError`."""

    def __init__(self, peer: Peer, calling_ae: str, timeout: float = 30) -> None:
        self.peer, self.calling_ae, self.timeout = peer, calling_ae, timeout

    def __str__(self) -> str:
        return f"C-STORE {self.peer}"

    def deliver(self, groups: Sequence[Sequence[Dataset]], stored: Callable[[int], None]) -> None:
        """Store each group of datasets at the peer in one association; ``stored(i)`` once group ``i`` is.

        Raises:
            DeliveryError: the association was refused or aborted, or a store failed (the groups before it
                were stored and reported through ``stored``).
        """
        from pynetdicom import AE

        ae = AE(ae_title=self.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        for uid in sorted({str(ds.SOPClassUID) for group in groups for ds in group}):
            ae.add_requested_context(uid)
        assoc = ae.associate(self.peer.host, self.peer.port, ae_title=self.peer.ae_title)
        if not assoc.is_established:
            raise DeliveryError(f"{self.peer}: association not established (down, or refused)")
        try:
            for i, group in enumerate(groups):
                for ds in group:
                    status = assoc.send_c_store(ds)
                    code = getattr(status, "Status", None)
                    if code not in SUCCESS_OR_WARNING:
                        shown = "no answer" if code is None else f"status 0x{code:04X}"
                        raise DeliveryError(f"{self.peer}: C-STORE of {ds.SOPInstanceUID} failed ({shown})")
                stored(i)
        finally:
            if assoc.is_established:
                assoc.release()


class StowSender:
    """STOW-RS: one request per delivery to a DICOMweb service (the study URL is its root + ``/studies``)."""

    def __init__(self, url: str, timeout: float = 30, flag: str = "--stow-url") -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{flag} {url!r}: expected an http:// or https:// DICOMweb root")
        self.url, self.timeout = url.rstrip("/"), timeout

    def __str__(self) -> str:
        return f"STOW-RS {self.url}"

    def deliver(self, groups: Sequence[Sequence[Dataset]], stored: Callable[[int], None]) -> None:
        """Store each group of datasets with one STOW-RS request; ``stored(i)`` once group ``i`` is.

        Raises:
            DeliveryError: the service is down or answered with a failure for an instance.
        """
        from dicomweb_client import DICOMwebClient

        client = DICOMwebClient(self.url, timeout=self.timeout)
        for i, group in enumerate(groups):
            try:
                answer = client.store_instances(list(group))
            except Exception as exc:  # requests' connection errors and the HTTPError of a refusal
                raise DeliveryError(f"{self.url}: STOW-RS failed ({str(exc)[:200]})") from exc
            failed = getattr(answer, "FailedSOPSequence", None)
            if failed:
                raise DeliveryError(f"{self.url}: STOW-RS refused {len(failed)} instance(s)")
            stored(i)
