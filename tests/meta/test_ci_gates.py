"""The CI gates hold whoever calls them (issue 21): ``.ci/run`` sets ``CI=true`` itself before the tests, and the
``realdata``/``slow`` markers sit on tests (a marker on a helper function marks nothing), with every test that
reads the shared data sets marked ``realdata``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
MARKERS = ("realdata", "slow")


def _marks(node: ast.AST) -> set[str]:
    """The names of the ``pytest.mark.X`` decorators (or ``pytestmark`` entries) in ``node``."""
    return {
        sub.attr
        for sub in ast.walk(node)
        if isinstance(sub, ast.Attribute)
        and isinstance(sub.value, ast.Attribute)
        and sub.value.attr == "mark"
    }


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text())) for path in sorted((ROOT / "tests").rglob("*.py"))]


def test_ci_run_sets_ci_true_before_the_tests() -> None:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "export CI=true" in lines and "make test" in lines
    assert lines.index("export CI=true") < lines.index("make test")


def test_markers_sit_on_tests_not_on_helpers() -> None:
    misplaced = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
        for path, module in _modules()
        for node in ast.walk(module)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and not node.name.startswith(("test", "Test"))
        and set().union(*(_marks(d) for d in node.decorator_list)) & set(MARKERS)
    ]
    assert not misplaced, misplaced


def test_every_test_of_the_shared_data_sets_is_marked_realdata() -> None:
    unmarked = []
    for path, module in _modules():
        module_marks = set().union(
            *(
                _marks(node.value)
                for node in module.body
                if isinstance(node, ast.Assign)
                and any(getattr(t, "id", "") == "pytestmark" for t in node.targets)
            )
        )
        for node in ast.walk(module):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                uses = "shared_datasets" in {a.arg for a in node.args.args}
                marks = module_marks | set().union(*(_marks(d) for d in node.decorator_list))
                if uses and "realdata" not in marks:
                    unmarked.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not unmarked, unmarked
