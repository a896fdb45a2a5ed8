"""The report's "Dossier" section: each validation of the run (``medclass validate``) with its dossier, the
checklist items it fills and the shortcut screens' flags, read from the validation folders' files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medclass.reporting.html_kit import esc
from medclass.runs import RunFiles
from medclass.runs.validation_layout import DOSSIER_HTML_FILE, VALIDATION_DIR, VALIDATION_FILE

SCREENS = ("metadata", "masked_anatomy", "outside_body")


def validations_of(run_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """``(folder, validation.json)`` of every validation folder of the run (``validation``, ``validation-2``,
    ...), in name order; a folder whose JSON is unreadable is left out."""
    found = []
    for folder in sorted(run_dir.glob(f"{VALIDATION_DIR}*")):
        try:
            found.append((folder, json.loads((folder / VALIDATION_FILE).read_text())))
        except (OSError, ValueError):
            continue
    return found


def _screens(validation: dict[str, Any]) -> str:
    shortcuts = validation.get("shortcuts") or {}
    words = {True: "<b>flagged</b>", False: "not flagged", None: "not run"}
    parts = [
        f"{esc(key)} {words.get((shortcuts.get(key) or {}).get('flagged'))}"
        for key in SCREENS
        if key in shortcuts
    ]
    return "; ".join(parts) or "not run"


def dossier_section(run: RunFiles) -> str:
    """The section's HTML; links are relative to the run folder (where report.html is written)."""
    parts = ["<h2 id='dossier'>Dossier</h2>"]
    validations = validations_of(run.run_dir)
    if not validations:
        parts.append(
            "<p class='note'>No validation yet: <code>medclass validate RUN_DIR</code> writes the dossier (CLAIM 2024, "
            "TRIPOD+AI and STARD-AI walked item by item, the model card) and runs the shortcut screens.</p>"
        )
        return "".join(parts)
    rows = []
    for folder, validation in validations:
        name = folder.name
        link = f"{name}/{DOSSIER_HTML_FILE}"
        dossier = f"<a href='{esc(link)}'>{esc(link)}</a>" if (folder / DOSSIER_HTML_FILE).is_file() else "–"
        checklists = validation.get("checklists") or {}
        filled = ", ".join(
            f"{esc(entry.get('title', key).split(' (')[0])} {entry.get('filled')}/{entry.get('total')}"
            for key, entry in checklists.items()
        )
        sites = ", ".join(esc(site) for site in (validation.get("external") or {}))
        rows.append(
            f"<tr><td>{esc(name)}</td><td>{dossier}</td><td>{sites or '–'}</td><td>{filled or '–'}</td>"
            f"<td>{_screens(validation)}</td></tr>"
        )
    parts.append(
        "<table class='dossier'><tr><th>validation</th><th>dossier</th><th>sites</th><th>checklist items filled</th>"
        "<th>shortcut screens</th></tr>" + "".join(rows) + "</table>"
    )
    return "".join(parts)
