"""Every folder layout has one owner in runs/: the names of tune studies, compare campaigns, ensembles and
bundles are spelled there once, and the layouts put each file where the workflows and their readers expect it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from medclass.runs import bundle_layout, campaign_layout, validation_layout
from medclass.runs.bundle_layout import BundleLayout, default_bundle_dir
from medclass.runs.campaign_layout import (
    ComparisonLayout,
    EnsembleLayout,
    StudyLayout,
    default_compare_dir,
    default_study_name,
)

SRC = Path(__file__).parents[2] / "src" / "medclass"
# The file and folder names the two layout modules own (their string constants).
OWNED_NAMES = {
    "study.db",
    "trials.csv",
    "best.yaml",
    "best_trial.json",
    "param_importances.json",
    "comparison.csv",
    "comparison.md",
    "comparison.html",
    "comparison_long.csv",
    "ensemble_members.csv",
    "medclass.json",
    "model.onnx",
    "model.pt",
    "validation.json",
    "dossier.md",
    "dossier.html",
    "forest.png",
    "decision_curve.png",
}
# The beginnings of the folder names built from a number or a name (f"seed-{seed}").
OWNED_PREFIXES = ("seed-", "trial-", "fold-", "export-")


# Readers of the bundle that still spell its names themselves; they move to runs.bundle_layout with the
# ModelSpec work (issue 21). Remove an entry when its module imports the names: the test then guards it too.
def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes (module, class and function docstrings may describe a layout in words)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _spelled_names(path: Path) -> list[str]:
    """The owned names that ``path`` spells as a string (or an f-string's literal part), docstrings aside."""
    tree = ast.parse(path.read_text())
    docs = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            text = node.value
            if text in OWNED_NAMES or (text in OWNED_PREFIXES):
                hits.append(f"{text!r} (line {node.lineno})")
        if isinstance(node, ast.JoinedStr):
            parts = [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
            hits += [f"f'{p}...' (line {node.lineno})" for p in parts if p.startswith(OWNED_PREFIXES)]
    return hits


def test_campaign_ensemble_and_bundle_names_are_spelled_only_in_runs() -> None:
    spelled = {}
    for path in sorted(SRC.rglob("*.py")):
        relative = str(path.relative_to(SRC))
        if relative.startswith("runs/"):
            continue
        if hits := _spelled_names(path):
            spelled[relative] = hits
    assert not spelled, (
        f"names of runs/campaign_layout.py, runs/bundle_layout.py or runs/validation_layout.py spelled elsewhere: {spelled}"
    )


def test_the_layout_modules_spell_every_owned_name() -> None:
    owned = {
        value
        for module in (campaign_layout, bundle_layout, validation_layout)
        for value in vars(module).values()
        if isinstance(value, str)
    } | set(bundle_layout.MODEL_FILES.values())
    assert owned >= OWNED_NAMES


def test_a_study_folder_layout(tmp_path: Path) -> None:
    layout = StudyLayout(tmp_path)
    assert layout.db == tmp_path / "study.db"
    assert layout.trials_table == tmp_path / "trials.csv"
    assert layout.best_config == tmp_path / "best.yaml"
    assert layout.best_trial == tmp_path / "best_trial.json"
    assert layout.importances == tmp_path / "param_importances.json"
    assert layout.plots == tmp_path / "plots"
    assert layout.trial_dir(7) == tmp_path / "trials" / "trial-0007"
    assert layout.fold_run_dir(7, 0, folds=1) == tmp_path / "trials" / "trial-0007" / "run"
    assert layout.fold_run_dir(12, 2, folds=3) == tmp_path / "trials" / "trial-0012" / "fold-2"


def test_a_comparison_and_an_ensemble_folder_layout(tmp_path: Path) -> None:
    layout = ComparisonLayout(tmp_path)
    assert (layout.table, layout.markdown, layout.html, layout.long_table, layout.plots) == (
        tmp_path / "comparison.csv",
        tmp_path / "comparison.md",
        tmp_path / "comparison.html",
        tmp_path / "comparison_long.csv",
        tmp_path / "plots",
    )
    assert layout.run_dir("l2_penalty", 43) == tmp_path / "l2_penalty" / "seed-43"
    ensemble = EnsembleLayout(tmp_path)
    assert (ensemble.info, ensemble.members) == (
        tmp_path / "ensemble.json",
        tmp_path / "ensemble_members.csv",
    )


def test_a_bundle_folder_layout(tmp_path: Path) -> None:
    layout = BundleLayout(tmp_path)
    assert layout.description == tmp_path / "medclass.json"
    assert layout.model_file("onnx") == tmp_path / "model.onnx"
    assert layout.model_file("torchscript") == tmp_path / "model.pt"
    assert not layout.is_bundle()
    assert default_bundle_dir(tmp_path, "onnx", None) == tmp_path / "export-onnx"
    assert default_bundle_dir(tmp_path / "best.ckpt", "onnx", "dynamic") == tmp_path / "export-onnx-int8"
    layout.description.write_text("{}")
    assert layout.is_bundle()


@pytest.mark.parametrize(
    ("space", "name"),
    [("sweep.space.yaml", "sweep"), ("dir/lr.yaml", "lr"), ("grid.yml", "grid"), ("a.b.yaml", "a.b")],
)
def test_the_default_study_name_is_the_space_file_name(space: str, name: str) -> None:
    assert default_study_name(space) == name


def test_the_default_compare_folder(tmp_path: Path) -> None:
    assert default_compare_dir(tmp_path / "five_variants.yaml") == Path("runs") / "compare" / "five_variants"
    dated = default_compare_dir(None)
    assert dated.parent == Path("runs") / "compare" and dated.name.startswith("compare-")


def test_a_validation_folder_layout_never_reuses_an_old_folder(tmp_path: Path) -> None:
    from medclass.runs.validation_layout import ValidationLayout, default_validation_dir

    assert default_validation_dir(tmp_path) == tmp_path / "validation"
    (tmp_path / "validation").mkdir()
    assert default_validation_dir(tmp_path) == tmp_path / "validation-2"
    layout = ValidationLayout(tmp_path / "v")
    assert (layout.results, layout.dossier, layout.dossier_html) == (
        tmp_path / "v" / "validation.json",
        tmp_path / "v" / "dossier.md",
        tmp_path / "v" / "dossier.html",
    )
    assert layout.relative(layout.figure("forest.png")) == "figures/forest.png"
