"""The CLI calls only the api: a command module parses flags, builds the config, calls medclass.api, prints.

import-linter checks the same rule (the forbidden contract in pyproject.toml, run by ``make lint``); this test
reads every import of the command modules, those inside functions included, so ``pytest tests/cli`` fails too.
"""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).parents[2] / "src" / "medclass" / "cli"
ALLOWED = ("medclass.api", "medclass.config", "medclass.utils", "medclass.cli")


def _medclass_imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return [n for n in names if n == "medclass" or n.startswith("medclass.")]


def _allowed(module: str) -> bool:
    return module == "medclass" or any(module == a or module.startswith(f"{a}.") for a in ALLOWED)


def test_command_modules_import_only_the_api_config_and_utils() -> None:
    crossing = {
        path.name: bad
        for path in sorted(CLI.glob("*.py"))
        if (bad := [m for m in _medclass_imports(path) if not _allowed(m)])
    }
    assert not crossing, f"cli modules importing below the api: {crossing}"


def test_the_commands_that_did_their_own_work_now_call_the_api() -> None:
    calls = {
        "inspect_cmd.py": "medclass.api.data",
        "split_cmd.py": "medclass.api.data",
        "profile_cmd.py": "medclass.api.profile",
        "tune_cmd.py": "medclass.api.tune",
    }
    for name, module in calls.items():
        assert module in _medclass_imports(CLI / name), name
