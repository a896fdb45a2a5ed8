"""The consoles the commands print to, and the one place where a failure becomes a message and an exit code.

Exit codes: 0 done, 2 bad input (a usage error or a :class:`MedclassError`, one line), 3 an internal error
(one line plus the path of a log file holding the traceback), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from medclass.utils.console import default_console
from medclass.utils.errors import MedclassError
from medclass.utils.extras import missing_extra_for
from medclass.utils.paths import cache_dir

console = default_console()
err_console = default_console(stderr=True)
DEBUG_ENV = "MEDCLASS_DEBUG"
EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 3, 130


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with the line that tells the user how to continue (e.g. the ``--resume`` command)."""

    def __init__(self, hint: str | None = None) -> None:
        super().__init__(hint)
        self.hint = hint


class CommandGroup(TyperGroup):
    """The ``medclass`` group: every command runs inside :meth:`invoke`, which maps failures to exit codes.

    Typer's own exceptions (usage errors, exits, aborts) pass through: Typer prints them (exit 2 for a bad
    flag or value, naming it).
    """

    def invoke(self, ctx: typer.Context) -> Any:
        debug = bool(ctx.params.get("debug"))  # --debug or MEDCLASS_DEBUG=1
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise
        except MedclassError as exc:
            if debug:
                traceback.print_exc()
            say(str(exc))
            code = EXIT_USAGE
        except KeyboardInterrupt as exc:
            err_console.print("interrupted", highlight=False)
            if getattr(exc, "hint", None):
                err_console.print(exc.hint, highlight=False, markup=False)
            code = EXIT_INTERRUPTED
        except ModuleNotFoundError as exc:
            # An optional part of medclass that is not installed is the user's to add (one line with the pip
            # command); any other missing module is a broken install, reported as an internal error.
            missing_extra = missing_extra_for(exc)
            if missing_extra is None:
                report_internal_error(exc, debug)
                code = EXIT_INTERNAL
            else:
                say(str(missing_extra))
                code = EXIT_USAGE
        except Exception as exc:
            report_internal_error(exc, debug)
            code = EXIT_INTERNAL
        raise typer.Exit(code)


def say(message: str) -> None:
    """A user error: ``error: <message>`` in red on stderr."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)


def report_internal_error(exc: BaseException, debug: bool) -> Path | None:
    """One line naming the exception and the log file with its traceback (``debug``: the traceback too)."""
    text = "".join(traceback.format_exception(exc))
    log = write_error_log(text)
    if debug:
        sys.stderr.write(text)
    detail = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    err_console.print(
        f"[bold red]internal error:[/] {escape(detail)}; run with --debug for the traceback; please report it",
        highlight=False,
    )
    if log is not None:
        err_console.print(f"traceback written to {log}", highlight=False, markup=False)
    return log


def write_error_log(text: str) -> Path | None:
    """Write a traceback under the cache folder's ``logs/`` (or the temp folder); ``None`` if neither works."""
    name = f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    for folder in (lambda: cache_dir() / "logs", lambda: Path(tempfile.gettempdir()) / "medclass"):
        try:
            path = folder() / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"medclass {' '.join(sys.argv[1:])}\n\n{text}")
            return path
        except OSError:
            continue
    return None
