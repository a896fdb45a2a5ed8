"""The extras of pyproject.toml and medclass.utils.extras say the same thing, and a missing extra is one line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from console_script import script_env

from medclass.utils.extras import EXTRAS, MissingExtraError, missing_extra_for, require_extra

ROOT = Path(__file__).parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
FEATURE_EXTRAS = ("serve", "export", "explain", "tune", "track", "dicom")


def _names(requirements: list[str]) -> set[str]:
    """Distribution names of requirement strings (``fastapi>=0.110`` -> ``fastapi``)."""
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_pyproject_extras_are_the_ones_medclass_checks_for() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(FEATURE_EXTRAS) == set(EXTRAS)
    for extra in FEATURE_EXTRAS:
        assert _names(extras[extra]) == {d.lower() for d in EXTRAS[extra].values()}, extra
    assert extras["all"] == [f"medclass[{','.join(FEATURE_EXTRAS)}]"]


def test_core_holds_no_extra_distribution() -> None:
    core = _names(PYPROJECT["project"]["dependencies"])
    in_extras = {d.lower() for provided in EXTRAS.values() for d in provided.values()}
    assert not core & in_extras, core & in_extras


def test_the_python_range_has_no_upper_bound() -> None:
    assert PYPROJECT["project"]["requires-python"] == ">=3.10"


def test_require_extra_names_the_missing_distribution_and_the_pip_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(EXTRAS, "serve", {**EXTRAS["serve"], "medclass_no_such_module": "nosuchdist"})
    with pytest.raises(MissingExtraError) as caught:
        require_extra("serve", "medclass serve")
    message = str(caught.value)
    assert message == 'medclass serve needs nosuchdist, which is not installed: pip install "medclass[serve]"'
    require_extra("serve", "medclass serve", ("fastapi",))  # only the modules asked for


def test_a_module_not_found_of_an_extra_maps_to_its_extra() -> None:
    error = missing_extra_for(ModuleNotFoundError("No module named 'optuna'", name="optuna.samplers"))
    assert error is not None and error.extra == "tune" and 'pip install "medclass[tune]"' in str(error)
    assert missing_extra_for(ModuleNotFoundError("x", name="numpyy")) is None


def test_the_cli_turns_a_missing_extra_into_exit_2_with_the_pip_line(tmp_path: Path) -> None:
    """A command whose extra cannot be imported, in a child process where the import of optuna fails."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] == 'optuna':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    env = script_env()
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    space = tmp_path / "space.yaml"
    space.write_text("optim.lr: {type: float, low: 0.0001, high: 0.01, log: true}\n")
    done = subprocess.run(
        [sys.executable, "-m", "medclass", "tune", "--space", str(space), "--data", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [
        'error: medclass tune needs optuna, which is not installed: pip install "medclass[tune]"'
    ]
