"""Whether a path is a regular, readable file, decided once before any reader or hasher opens it.

``open()`` on a named pipe (FIFO) blocks until a writer appears, a character device such as ``/dev/zero`` never
ends, and a socket cannot be opened at all; a folder named ``x.png`` or a broken symbolic link only fails later
with a confusing message. :func:`file_problem` names each of these, so scans skip and report them like any
unreadable file, and commands given such a path directly refuse it. :func:`file_md5` hashes the bytes that were
there when it started, so a file that grows while it is read (a download in progress, a log) cannot keep it
reading forever.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from medclass.data.npz import member_md5, parse_member
from medclass.utils.errors import DataError

_CHUNK = 1 << 20


def file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a regular, readable file, or None when it is one.

    Symbolic links are followed; the reason says what the path is instead: ``"file not found"``, ``"broken
    symbolic link"``, ``"is a folder, not a file"``, ``"is a named pipe (FIFO), not a regular file"``,
    ``"is a device file, not a regular file"``, ``"is a socket, not a regular file"``, ``"permission
    denied"``. Never opens the file, so it cannot block.

    Example:
        >>> file_problem("/dev/null")
        'is a device file, not a regular file'
    """
    member = parse_member(path)
    if member is not None:  # an image inside a .npz file (data.npz): the file itself must be regular
        path = member[0]
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "broken symbolic link" if os.path.islink(path) else "file not found"
    except OSError as exc:
        return f"cannot access file: {exc.strerror or exc}"
    except ValueError:  # os.stat refuses a path with an embedded NUL character
        return "invalid path (contains a null character)"
    if stat.S_ISREG(mode):
        return None if os.access(path, os.R_OK) else "permission denied"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device file, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "not a regular file"


def file_md5(path: str | os.PathLike) -> tuple[str, int] | str:
    """``(md5 hex, size)`` of a regular file's bytes, or the reason it cannot be read (a ``str``).

    Reads at most the size the file had when it was opened, so a growing file ends the read. The file is
    opened without blocking and checked again on the open descriptor, so a path swapped for a FIFO between
    the check and the open still cannot hang.
    """
    problem = file_problem(path)
    if problem is not None:
        return problem
    if parse_member(path) is not None:
        try:
            return member_md5(path)
        except DataError as exc:
            return str(exc).split(": ", 1)[-1]
    digest = hashlib.md5(usedforsecurity=False)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return "not a regular file"
            remaining = info.st_size
            while remaining > 0 and (chunk := handle.read(min(_CHUNK, remaining))):
                digest.update(chunk)
                remaining -= len(chunk)
    except OSError as exc:
        return f"cannot read file: {exc.strerror or exc}"
    return digest.hexdigest(), info.st_size


def require_regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` as a Path when it is a regular, readable file.

    Raises:
        DataError: naming the path and what it is instead.
    """
    problem = file_problem(path)
    if problem is not None:
        raise DataError(f"{path}: {problem} (expected a readable {what})")
    return Path(path)
