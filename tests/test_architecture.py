"""Rules of docs/ARCHITECTURE.md beside the import-linter contracts: the contract that keeps api/ orchestration
only is declared (import-linter, run by ``make lint`` and first in ``make test``, enforces it), and modules stay
small."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).parents[1]
SRC = ROOT / "src" / "medclass"
MAX_MODULE_LINES = 400
# Modules allowed to be longer, with the reason.
LONG_MODULES = {
    # Every format's reader and the one intensity rule they share (bit depth, DICOM LUTs, windows) in one place.
    "data/readers.py",
    # Every split strategy with the duplicate and group merging they share.
    "data/splits.py",
}
# What api/ may not import: the work on arrays, tables and models is done by the packages below it.
API_FORBIDDEN = {"numpy", "pandas", "torch", "lightning", "sklearn"}


def _contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    linter = config["tool"]["importlinter"]
    assert linter["include_external_packages"], (
        "third-party imports are invisible to the contracts without it"
    )
    return linter["contracts"]


def test_api_is_forbidden_the_array_table_and_model_libraries() -> None:
    (contract,) = [
        c for c in _contracts() if c["type"] == "forbidden" and c["source_modules"] == ["medclass.api"]
    ]
    assert set(contract["forbidden_modules"]) >= API_FORBIDDEN
    # An exception (a module of api/ that still does work) is an import of api/, never a wildcard over it.
    for entry in contract.get("ignore_imports", []):
        assert entry.startswith("medclass.api."), entry


def test_assessment_is_a_feature_package() -> None:
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    features = next(layer for layer in layers["layers"] if "medclass.training" in layer)
    assert "medclass.assessment" in {name.strip() for name in features.split("|")}


def test_modules_stay_small() -> None:
    big = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
        and str(p.relative_to(SRC)) not in LONG_MODULES
    }
    assert not big, f"modules over {MAX_MODULE_LINES} lines: {big}"
