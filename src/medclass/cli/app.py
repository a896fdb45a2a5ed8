"""``medclass`` command line: each command lives in its own small module and calls the Python API."""

from medclass.cli import (  # noqa: F401  (importing a command module registers its command)
    compare_cmd,
    demo_cmd,
    evaluate_cmd,
    explain_cmd,
    export_cmd,
    inspect_cmd,
    predict_cmd,
    profile_cmd,
    report_cmd,
    serve_cmd,
    split_cmd,
    train_cmd,
    tune_cmd,
)
from medclass.cli.base import app, main, run_app

__all__ = ["app", "main", "run_app"]
