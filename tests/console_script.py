"""The installed ``medclass`` console script, run on this checkout's sources (as a user runs it)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import medclass

SRC = Path(medclass.__file__).resolve().parents[1]


def console_script() -> list[str]:
    """The entry point that ``pip install`` made beside this interpreter (``[project.scripts]``)."""
    script = Path(sys.executable).parent / "medclass"
    assert script.is_file(), f"{script}: console script missing; install the package (make install)"
    return [str(script)]


def script_env(**extra: str) -> dict[str, str]:
    """The environment with this checkout's ``src`` first on PYTHONPATH and a wide, plain terminal."""
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "200", "NO_COLOR": "1", **extra}
