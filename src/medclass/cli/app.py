"""``medclass`` command line: the application, its global options, and the list of commands.

Each command lives in its own small module as a plain function and is registered here, so this list is the
one place that says which commands exist. Command modules import only light modules at the top (typer, the
config schema); the api and everything that pulls torch is imported inside the command, so ``--help`` and a
typo stay fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from medclass.cli import (
    compare_cmd,
    demo_cmd,
    dicom_node_cmd,
    ensemble_cmd,
    evaluate_cmd,
    explain_cmd,
    export_cmd,
    inspect_cmd,
    predict_cmd,
    profile_cmd,
    recipes_cmd,
    report_cmd,
    serve_cmd,
    split_cmd,
    train_cmd,
    tune_cmd,
    validate_cmd,
)
from medclass.cli.base import DEBUG_ENV, CommandGroup, console

app = typer.Typer(
    name="medclass",
    cls=CommandGroup,
    help="Train, evaluate, compare, tune and explain classifiers for 2D medical images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
COMMANDS = {
    "train": train_cmd.train,
    "evaluate": evaluate_cmd.evaluate,
    "predict": predict_cmd.predict,
    "explain": explain_cmd.explain,
    "report": report_cmd.report,
    "inspect": inspect_cmd.inspect,
    "split": split_cmd.split,
    "tune": tune_cmd.tune,
    "compare": compare_cmd.compare,
    "ensemble": ensemble_cmd.ensemble,
    "profile": profile_cmd.profile,
    "recipes": recipes_cmd.recipes,
    "demo": demo_cmd.demo,
    "export": export_cmd.export,
    "serve": serve_cmd.serve,
    "validate": validate_cmd.validate,
    "dicom-node": dicom_node_cmd.dicom_node,
}
for _name, _command in COMMANDS.items():
    app.command(_name)(_command)


def _print_version(value: bool) -> None:
    if value:
        from medclass import __version__

        console.print(f"medclass {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug/--no-debug",
            envvar=DEBUG_ENV,
            help="Show the traceback of an error (also MEDCLASS_DEBUG=1).",
        ),
    ] = False,
) -> None:
    """Train, evaluate, compare, tune and explain classifiers for 2D medical images."""


def run_app(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (see :mod:`medclass.cli.base` for the codes)."""
    try:
        app(args=argv, prog_name="medclass", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_app())
