"""The Typer application object shared by the command modules, and the error-to-message wrapper."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from medclass.utils.errors import MedclassError

app = typer.Typer(
    name="medclass",
    help="Train, evaluate, compare, tune and explain classifiers for 2D medical images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def run_app(argv: list[str] | None = None) -> int:
    """Run the CLI; a :class:`MedclassError` becomes a red message and exit code 2, not a traceback."""
    try:
        app(args=argv, standalone_mode=False)
    except MedclassError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_app())
