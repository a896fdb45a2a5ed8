"""Whether the server's address can be bound, checked before the model loads (a busy port is a user error)."""

from __future__ import annotations

import errno
import socket

from medclass.utils.errors import ConfigError


def check_bindable(host: str, port: int) -> None:
    """Bind ``host:port`` as uvicorn does (``SO_REUSEADDR``, every address ``host`` resolves to), then let go.

    A port left in TIME_WAIT by an earlier server binds, as it does for uvicorn; a port another process listens
    on does not.

    Raises:
        ConfigError: the port is in use, or the host cannot be bound here (naming ``--port`` or ``--host``).
    """
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL and family == socket.AF_INET6 and len(addresses) > 1:
                    continue  # IPv6 off here: the server skips that address too (asyncio, bpo-30945)
                if exc.errno == errno.EADDRINUSE:
                    raise ConfigError(
                        f"--port {port}: {host}:{port} is already in use by another process; stop it or "
                        "choose another --port"
                    ) from None
                if exc.errno == errno.EACCES:
                    raise ConfigError(
                        f"--port {port}: not allowed to bind {host}:{port} (ports below 1024 need privileges); "
                        "choose another --port"
                    ) from None
                raise ConfigError(f"--host {host}: cannot bind {host}:{port} here ({exc.strerror})") from None
