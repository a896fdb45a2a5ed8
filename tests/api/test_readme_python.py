"""The README's "From Python" example, run as it is written, on the phantom data with a small model budget."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import medclass

README = Path(__file__).parents[2] / "README.md"


def readme_python_example() -> str:
    """The first ``python`` code block of the README's "## From Python" section."""
    text = README.read_text()
    section = text.split("\n## From Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "README.md: the From Python section has no python code block"
    return blocks[0]


def substituted(code: str, replacements: dict[str, str]) -> str:
    """``code`` with each placeholder replaced; a placeholder the example no longer has fails the test."""
    for old, new in replacements.items():
        assert old in code, f"README.md's From Python example no longer contains {old!r}"
        code = code.replace(old, new)
    return code


@pytest.mark.slow
def test_readme_python_example_runs(
    phantom_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the run folder goes to runs/<name> under the working directory
    code = substituted(
        readme_python_example(),
        {
            '"path/to/data"': repr(str(phantom_data)),
            '"path/to/new_scans"': repr(str(phantom_data / "tumor")),
            '"path/to/other_site"': repr(str(phantom_data)),
            "epochs=10": "epochs=2",
            "image_size=128": "image_size=32",
        },
    )
    namespace: dict[str, object] = {}
    exec(compile(code, f"{README}:From Python", "exec"), namespace)

    run = namespace["run"]
    assert isinstance(run, medclass.Run)
    assert run.path.parent == Path("runs") and run.checkpoint.is_file()
    assert run.config.model.name == "resnet18" and run.config.optim.lr == 3e-4
    assert run.metrics is not None and 0 <= run.metrics["accuracy"] <= 1
    assert run.history["epoch"].tolist() == [1, 2]
    table = namespace["table"]
    assert isinstance(table, pd.DataFrame) and len(table) == 40
    assert set(table["prediction"]) <= {"no_tumor", "tumor"}
    assert namespace["other"]["n"] == 80
    assert run.report_file is not None and run.report_file.is_file()
    assert "test accuracy" in repr(run)
