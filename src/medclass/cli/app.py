"""``medclass`` command line: each command lives in its own small module and calls the Python API."""

from medclass.cli import inspect_cmd, split_cmd  # noqa: F401  (registers the commands)
from medclass.cli.base import app, main, run_app

__all__ = ["app", "main", "run_app"]
