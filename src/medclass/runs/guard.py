"""The one rule for what a command may write: output folders and output files.

- An output folder is created when missing or empty and then gets a marker (``run.json``) naming its kind.
- A non-empty folder is written into only when its marker says it is a medclass folder of the same kind and the
  command continues it (``resume``); ``overwrite`` replaces it, removing only the entries that medclass writes
  (anything else in it is kept and reported). A folder without the marker is never written into or deleted,
  whatever the flags: a mistyped ``--out`` must not cost anyone their files.
- A folder that is, contains or lies inside a protected folder (the data set) is refused.
- An output file that already exists is replaced only with ``overwrite``; a path that is a folder, or lies under
  a file, is refused with a message naming it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from medclass.runs.layout import MARKER_FILE, RUN_ENTRIES, RUN_ENTRY_PREFIXES, read_marker, write_marker
from medclass.utils.errors import RunDirError


@dataclass
class OutputDir:
    """A claimed output folder.

    Attributes:
        path: the folder.
        continued: it held a medclass folder of this kind that the command continues.
        kept: entries that ``overwrite`` left in place because medclass did not write them.
        created: this claim made the folder (``existed``: it was there before, empty).
    """

    path: Path
    continued: bool = False
    kept: list[str] = field(default_factory=list)
    created: bool = False
    existed: bool = False


def check_not_protected(path: Path, protected: Sequence[str | Path], flag: str = "--out") -> None:
    """Refuse ``path`` when it is, contains or lies inside one of ``protected`` (e.g. the data folder).

    Raises:
        RunDirError: naming both folders.
    """
    target = path.resolve()
    for folder in protected:
        guarded = Path(folder).resolve()
        if target == guarded or guarded.is_relative_to(target) or target.is_relative_to(guarded):
            raise RunDirError(
                f"{flag} {path}: is, contains or lies inside the data folder {folder}; choose an output folder "
                "outside the data"
            )


def _is_run_entry(name: str) -> bool:
    return name in RUN_ENTRIES or name.startswith(RUN_ENTRY_PREFIXES)


def remove_own_entries(path: Path) -> list[str]:
    """Delete what a medclass run writes inside ``path``; return the names of the other entries (kept)."""
    kept = []
    for entry in sorted(path.iterdir()):
        if not _is_run_entry(entry.name):
            kept.append(entry.name)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return kept


def prepare_output_dir(
    path: str | Path,
    kind: str,
    *,
    overwrite: bool = False,
    resume: bool = False,
    reuse: bool = False,
    protected: Sequence[str | Path] = (),
    legacy: Sequence[str] = (),
    flag: str = "--out",
) -> OutputDir:
    """Claim ``path`` as the output folder of a command of ``kind`` (``run``, ``tune``, ``compare``, ...).

    Args:
        path: the folder.
        kind: what the folder holds; recorded in its marker and checked when it exists.
        overwrite: replace an existing medclass folder of this kind.
        resume: continue an existing medclass folder of this kind (it must exist).
        reuse: continue an existing medclass folder of this kind, or create it (commands that add to their own
            folder: tune resumes its study, compare keeps finished runs, explain replaces its own outputs).
        protected: folders that must not be, contain or hold the output (the data).
        legacy: entries that identify a folder of this kind written by a medclass release before the marker;
            any one of them marks such a folder; it may be continued (``resume``/``reuse``; it then gets its
            marker), never overwritten.
        flag: the option named in messages.

    Raises:
        RunDirError: the folder exists and may not be written as asked (the message says what to do).
    """
    path = Path(path)
    action = check_output_dir(
        path,
        kind,
        overwrite=overwrite,
        resume=resume,
        reuse=reuse,
        protected=protected,
        legacy=legacy,
        flag=flag,
    )
    if action == "create":
        existed = path.is_dir()
        path.mkdir(parents=True, exist_ok=True)
        write_marker(path, kind)
        return OutputDir(path, created=True, existed=existed)
    if action == "continue-legacy":
        write_marker(path, kind)
    if action != "overwrite":
        return OutputDir(path, continued=True)
    kept = remove_own_entries(path)
    write_marker(path, kind)
    return OutputDir(path, kept=kept)


@contextmanager
def removed_if_unstarted(
    claimed: OutputDir,
    started: Callable[[Path], bool],
    say: Callable[[str], None],
    reason: str = "the run stopped before its first checkpoint",
) -> Iterator[OutputDir]:
    """Undo a claim when the command fails (any error, Ctrl-C or exit) before ``started(path)`` holds (a run:
    before its first checkpoint), so that the same command can run again without ``--overwrite``.

    Only a folder this claim created is undone: it is removed with everything in it (an empty folder that was
    there before is emptied again), and ``say`` gets one line naming it and ``reason``. A folder that held a run
    before (``--overwrite``, ``--resume``) or that has started is left as it is.
    """
    try:
        yield claimed
    except BaseException:
        path = claimed.path
        if claimed.created and path.is_dir() and not started(path):
            if claimed.existed:
                for entry in path.iterdir():
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
            else:
                shutil.rmtree(path)
            say(f"removed {path}: {reason} (run the command again)")
        raise


def check_writable(path: str | Path, flag: str = "--out") -> None:
    """Refuse an output folder that cannot be created or written into, before a command spends any time: a
    folder is made and removed again in ``path`` or, when it is missing, in its nearest existing parent.

    Raises:
        RunDirError: naming the path, the folder that cannot be written and why.
    """
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        where = "is a file" if existing == path else f"lies under {existing}, which is a file"
        raise RunDirError(f"{flag} {path}: {where}, not a folder")
    try:
        Path(tempfile.mkdtemp(prefix=".medclass-write-check-", dir=existing)).rmdir()
    except OSError as exc:
        raise RunDirError(
            f"{flag} {path}: cannot write into {existing} ({exc.strerror or exc}); choose a folder you can write to"
        ) from exc


def check_output_dir(
    path: str | Path,
    kind: str,
    *,
    overwrite: bool = False,
    resume: bool = False,
    reuse: bool = False,
    protected: Sequence[str | Path] = (),
    legacy: Sequence[str] = (),
    flag: str = "--out",
) -> str:
    """The checks of :func:`prepare_output_dir` (same arguments) without writing anything, so a command can
    refuse a bad ``--out`` before it spends any time; returns what claiming the folder will do: ``create``,
    ``continue``, ``continue-legacy`` (a folder from before the marker) or ``overwrite``.

    Raises:
        RunDirError: the folder exists and may not be written as asked (the message says what to do).
    """
    path = Path(path)
    if overwrite and resume:
        raise RunDirError("--overwrite and --resume exclude each other")
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{flag} {path}: is a file, not a folder")
    check_not_protected(path, protected, flag)
    if not path.is_dir() or not any(path.iterdir()):
        if resume:
            raise RunDirError(f"{flag} {path}: nothing to resume (the folder is missing or empty)")
        return "create"
    marker = read_marker(path)
    continuing = resume or reuse
    legacy_folder = marker is None and continuing and any((path / name).exists() for name in legacy)
    if legacy_folder:
        marker = {"kind": kind}
    if marker is None or marker["kind"] != kind:
        found = "no medclass marker" if marker is None else f"a medclass {marker['kind']} folder"
        raise RunDirError(
            f"{flag} {path}: folder is not empty and is not a medclass {kind} folder ({found}: no {MARKER_FILE} "
            f"of kind '{kind}'); refusing to write into it or delete it: choose a new or empty folder"
        )
    if continuing:
        return "continue-legacy" if legacy_folder else "continue"
    if not overwrite:
        raise RunDirError(
            f"{flag} {path} already exists: pass --overwrite to replace it, --resume to continue it, or "
            "choose another folder"
        )
    return "overwrite"


def prepare_output_file(path: str | Path, *, overwrite: bool = False, flag: str = "--out") -> Path:
    """Check that ``path`` may be written as an output file, and create its parent folder.

    Raises:
        RunDirError: ``path`` is a folder, lies under a file, or exists without ``overwrite``.
    """
    path = Path(path)
    if path.is_dir():
        raise RunDirError(f"{flag} {path}: is a folder; expected the path of a file to write")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise RunDirError(f"{flag} {path}: lies under {parent}, which is a file, not a folder")
    if path.exists() and not overwrite:
        raise RunDirError(
            f"{flag} {path}: already exists; pass --overwrite to replace it, or choose another path"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
