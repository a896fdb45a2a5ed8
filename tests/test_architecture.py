"""Rules of docs/ARCHITECTURE.md that import-linter does not check: api/ is orchestration in short functions,
modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "medclass"
MAX_API_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
# Modules allowed to be longer, with the reason.
LONG_MODULES = {
    # Every format's reader and the one intensity rule they share (bit depth, DICOM LUTs, windows) in one place.
    "data/readers.py",
    # Every split strategy with the duplicate and group merging they share.
    "data/splits.py",
}


def _body_lines(node: ast.FunctionDef) -> int:
    """Lines of a function's body, without its signature and docstring."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]
    if not body:
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


@pytest.mark.parametrize("module", sorted((SRC / "api").glob("*.py")), ids=lambda p: p.name)
def test_api_functions_are_short(module: Path) -> None:
    tree = ast.parse(module.read_text())
    long = [
        f"{node.name} ({_body_lines(node)} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and _body_lines(node) > MAX_API_FUNCTION_LINES
    ]
    assert not long, f"{module.name}: functions over {MAX_API_FUNCTION_LINES} lines: {long}"


def test_modules_stay_small() -> None:
    big = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
        and str(p.relative_to(SRC)) not in LONG_MODULES
    }
    assert not big, f"modules over {MAX_MODULE_LINES} lines: {big}"
