"""dossier.md for a trained run: every item of each checklist (counted against its YAML), filled items carry
the run's numbers and point at files that exist, unknown items are left to the authors; the shortcut screens
of a validation appear with their figure; the model card has the Mitchell et al. sections."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from medclass.reporting.dossier import (
    CHECKLISTS,
    MODEL_CARD_FILE,
    checklist_status,
    load_checklist,
    write_dossier,
)
from medclass.reporting.dossier_facts import AUTHORS
from medclass.reporting.model_card import MITCHELL_SECTIONS

# The published item counts: CLAIM 2024 44 items; TRIPOD+AI 27 main items in 52 rows; STARD-AI 40 items in 48 rows.
EXPECTED_ROWS = {"claim_2024": 44, "tripod_ai": 52, "stard_ai": 48}


def _sections(text: str) -> dict[str, list[list[str]]]:
    """Table rows of each ``## <title>`` section of dossier.md, split into cells."""
    sections: dict[str, list[list[str]]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:]
            sections[current] = []
        elif (
            current
            and line.startswith("| ")
            and not line.startswith("| item")
            and not line.startswith("|---")
        ):
            sections[current].append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return sections


@pytest.fixture(scope="module")
def dossier(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("validation")
    path = write_dossier(trained_run, out)
    return path, path.read_text()


def test_every_item_of_each_checklist_is_in_the_dossier(dossier: tuple[Path, str]) -> None:
    _, text = dossier
    sections = _sections(text)
    for name in CHECKLISTS:
        checklist = load_checklist(name)
        ids = [item["id"] for item in checklist.items]
        assert len(ids) == len(set(ids)) == EXPECTED_ROWS[name]
        assert [row[0] for row in sections[checklist.title]] == ids
        assert all("doi:" in c or "DOI" in c for c in checklist.citations)
    for name, main_items in (("claim_2024", 44), ("tripod_ai", 27), ("stard_ai", 40)):
        numbers = {item["id"].rstrip("abcdefg") for item in load_checklist(name).items}
        assert numbers == {str(i) for i in range(1, main_items + 1)}, name


def test_filled_items_carry_the_runs_numbers_and_real_files(
    trained_run: Path, dossier: tuple[Path, str]
) -> None:
    path, text = dossier
    metrics = json.loads((trained_run / "test_metrics.json").read_text())
    report = json.loads((trained_run / "data_report.json").read_text())
    claim = {row[0]: row for row in _sections(text)[load_checklist("claim_2024").title]}
    assert (
        f"(n = {metrics['n']})" in claim["38"][3]
        and f"Accuracy {metrics['accuracy']:.3f} [" in claim["38"][3]
    )
    assert f"test split holds {metrics['n']} images" in claim["21"][3]
    assert f"{report['n_images']} readable images" in claim["7"][3]
    test_counts = report["counts"]["test"]
    assert f"test {sum(test_counts.values())} (" in claim["19"][3]
    assert "test_metrics.json" in claim["38"][4] and "splits.csv" in claim["20"][4]
    status = checklist_status(trained_run, path.parent)
    flow = status["claim_2024"]["items"]["35"]["source"]
    assert (
        "figures/participant_flow.png" in flow
        and (path.parent / "figures/participant_flow.png").stat().st_size
    )
    for checklist in status.values():
        for item in checklist["items"].values():
            if item["filled"]:
                assert item["source"] and all((path.parent / s).exists() for s in item["source"]), item
            else:
                assert item["source"] is None and item["answer"] == AUTHORS


def test_the_html_dossier_holds_the_same_tables(dossier: tuple[Path, str]) -> None:
    path, text = dossier
    html = (path.parent / "dossier.html").read_text()
    assert html.count("<table>") == len(CHECKLISTS)
    assert html.count("<tr>") == text.count("\n| ")  # header and item rows
    assert '<img src="figures/participant_flow.png"' in html and "<script" not in html


def test_unknown_items_are_left_to_the_authors(dossier: tuple[Path, str]) -> None:
    _, text = dossier
    sections = _sections(text)
    claim = {row[0]: row for row in sections[load_checklist("claim_2024").title]}
    tripod = {row[0]: row for row in sections[load_checklist("tripod_ai").title]}
    stard = {row[0]: row for row in sections[load_checklist("stard_ai").title]}
    for row in (
        claim["11"],
        claim["44"],
        tripod["17"],
        tripod["18a"],
        stard["6"],
        stard["36"],
    ):  # de-identification, funding, ethics, registration
        assert row[3] == f"*{AUTHORS}*" and row[4] == "–"
    assert claim["30"][3] == f"*{AUTHORS}*"  # no validation given: no robustness analysis to cite


def test_validation_results_fill_the_shortcut_and_external_items(trained_run: Path, tmp_path: Path) -> None:
    figure = tmp_path / "figures" / "shortcut_metadata.png"
    figure.parent.mkdir()
    figure.write_bytes(b"png")
    validation = {
        "external": {
            "siteB": {"internal": False, "n": 40, "metrics": {"accuracy": {"value": 0.7}}, "class_counts": {}}
        },
        "shortcuts": {
            "metadata": {"flagged": True, "figure": "shortcut_metadata.png", "verdict": "carries a shortcut"}
        },
        "decision_curve": {"skipped": "decision curves are for binary tasks"},
        "sample_size": {
            "rule": "1/sqrt(n)",
            "sites": {"siteB": {"accuracy": {"value": 0.7, "ci_width": 0.28, "n": 40, "n_to_halve": 160}}},
        },
        "figures": {},
    }
    (tmp_path / "validation.json").write_text(json.dumps(validation))
    path = write_dossier(trained_run, tmp_path, validation)
    status = checklist_status(trained_run, tmp_path, validation)["claim_2024"]["items"]
    assert status["30"]["filled"] and status["30"]["source"] == [
        "validation.json",
        "figures/shortcut_metadata.png",
    ]
    assert status["33"]["filled"] and "siteB: n = 40" in status["33"]["answer"]
    text = path.read_text()
    assert "## External validation" in text and "| siteB | 40 | 0.700 |" in text
    assert (
        "Not drawn: decision curves are for binary tasks." in text
        and "| siteB | accuracy | 0.700 | 0.280 | 40 | 160 |" in text
    )
    assert (
        "`metadata` (**FLAGGED**): carries a shortcut" in text
        and "![metadata](figures/shortcut_metadata.png)" in text
    )
    card = (tmp_path / MODEL_CARD_FILE).read_text()
    assert all(f"## {section}" in card for section in MITCHELL_SECTIONS)
    assert "sole basis of a diagnosis" in card


def test_the_report_links_each_validations_dossier(tmp_path: Path) -> None:
    from medclass.reporting.dossier_report import dossier_section
    from medclass.runs import RunFiles

    run = RunFiles(run_dir=tmp_path, config={})
    assert "No validation yet" in dossier_section(run)
    folder = tmp_path / "validation-2"
    folder.mkdir()
    (folder / "dossier.html").write_text("<html></html>")
    validation = {
        "external": {"internal": {}, "siteB": {}},
        "checklists": {"claim_2024": {"title": "CLAIM 2024 (Checklist ...)", "filled": 26, "total": 42}},
        "shortcuts": {"metadata": {"flagged": True}, "masked_anatomy": {"flagged": False}},
    }
    (folder / "validation.json").write_text(json.dumps(validation))
    html = dossier_section(run)
    assert (
        "href='validation-2/dossier.html'" in html
        and "internal, siteB" in html
        and "CLAIM 2024 26/42" in html
    )
    assert "metadata <b>flagged</b>; masked_anatomy not flagged" in html
