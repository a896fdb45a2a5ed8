"""The Typer application object shared by the command modules, and the error-to-message wrapper."""

from __future__ import annotations

import sys

import typer

from medclass.utils.console import default_console
from medclass.utils.errors import MedclassError

app = typer.Typer(
    name="medclass",
    help="Train, evaluate, compare, tune and explain classifiers for 2D medical images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = default_console()
err_console = default_console(stderr=True)


def run_app(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code.

    Usage errors are reported by Typer (exit code 2); a :class:`MedclassError` (bad input, refused action)
    becomes a red one-paragraph message and exit code 2 instead of a traceback.
    """
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except MedclassError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        return 2
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_app())
