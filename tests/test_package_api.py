"""The top-level API names resolve to the functions behind the CLI commands, lazily."""

from __future__ import annotations

import subprocess
import sys

import medclass


def test_every_public_name_is_a_callable_of_the_api() -> None:
    for name in medclass.__all__:
        value = getattr(medclass, name)
        assert callable(value), name
        assert value.__module__.startswith(("medclass.api", "medclass.config")), (name, value.__module__)


def test_importing_medclass_does_not_import_torch() -> None:
    code = "import sys, medclass; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    )
