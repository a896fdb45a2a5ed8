"""``dossier.md``: the reporting checklists (CLAIM 2024, TRIPOD+AI, STARD-AI) walked item by item, each item
answered from the run's files (with the file it comes from) or marked "to be written by the authors".

The item lists are data (``reporting/checklists/*.yaml``: number, section, topic, the fact that answers it,
the papers with DOI and what of the list could be verified); the answers are facts read from the run folder
(:mod:`~medclass.reporting.dossier_facts`) and, when given, from ``medclass validate``'s results
(:mod:`~medclass.reporting.dossier_validation`). A filled item always names files that exist.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt

from medclass.reporting.dossier_facts import AUTHORS, Fact, run_facts
from medclass.reporting.dossier_sections import evidence_sections
from medclass.reporting.dossier_validation import figure_path, merge_facts, validation_facts
from medclass.reporting.html_kit import page
from medclass.reporting.model_card import model_card_markdown
from medclass.reporting.plots_flow import flow_figure
from medclass.runs import load_run
from medclass.runs.validation_layout import DOSSIER_FILE, DOSSIER_HTML_FILE, FIGURES_DIR

CHECKLISTS = ("claim_2024", "tripod_ai", "stard_ai")
MODEL_CARD_FILE = "model_card.md"
FLOW_FIGURE = f"{FIGURES_DIR}/participant_flow.png"  # relative to the dossier's folder
# The dossier's tables hold text: left-aligned, unlike the report's number tables.
DOSSIER_CSS = (
    "<style>.dossier td, .dossier th { text-align: left; } .dossier img { max-width: 100%; }</style>"
)


@dataclass(frozen=True)
class Checklist:
    """One reporting checklist as its YAML file describes it."""

    id: str
    title: str
    citations: list[str]
    verification: str
    items: list[dict[str, str]]


def load_checklist(name: str) -> Checklist:
    """The checklist ``name`` (one of :data:`CHECKLISTS`) from the package's ``checklists`` folder."""
    text = (
        resources.files("medclass.reporting")
        .joinpath("checklists", f"{name}.yaml")
        .read_text(encoding="utf-8")
    )
    tree = read_yaml_text(text)
    items = [{key: str(value) for key, value in item.items()} for item in tree["items"]]
    return Checklist(tree["id"], tree["title"], list(tree["citations"]), tree["verification"], items)


def read_yaml_text(text: str) -> dict[str, Any]:
    """A YAML document shipped with the package as a dict (trusted and small: no need for the guarded reader of
    the user's YAML, ``config.safe_yaml``)."""
    return yaml.safe_load(text)


def _facts(run_dir: Path, out_dir: Path, validation: dict[str, Any] | None) -> dict[str, Fact]:
    run = load_run(run_dir)
    prefix = Path(os.path.relpath(run_dir.resolve(), out_dir.resolve())).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    facts = merge_facts(run_facts(run), validation_facts(validation, out_dir), prefix)
    flow = facts.get("participant_flow")
    if flow and (out_dir / FLOW_FIGURE).is_file():  # drawn by write_dossier
        facts["participant_flow"] = Fact(flow.text, (*flow.sources, FLOW_FIGURE))
    return facts


def checklist_status(
    run_dir: str | Path, out_dir: str | Path, validation: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Per checklist and item: ``topic``, ``filled`` and ``source`` (files relative to ``out_dir``), with the
    counts, the citations and the verification note: the ``checklists`` block of validation.json."""
    out = Path(out_dir)
    facts = _facts(Path(run_dir), out, validation)
    status: dict[str, Any] = {}
    for name in CHECKLISTS:
        checklist = load_checklist(name)
        items = {}
        for item in checklist.items:
            fact = facts.get(item.get("fact", ""))
            items[item["id"]] = {
                "section": item["section"],
                "topic": item["topic"],
                "filled": fact is not None,
                "source": list(fact.sources) if fact else None,
                "answer": fact.text if fact else AUTHORS,
            }
        status[name] = {
            "title": checklist.title,
            "citations": checklist.citations,
            "verification": checklist.verification,
            "total": len(items),
            "filled": sum(entry["filled"] for entry in items.values()),
            "items": items,
        }
    return status


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _links(sources: list[str] | None) -> str:
    return ", ".join(f"[{Path(s).name}]({s})" for s in sources or []) or "–"


def render_dossier(
    run_name: str, status: dict[str, Any], validation: dict[str, Any] | None, out_dir: Path
) -> str:
    """The Markdown of ``dossier.md`` in ``out_dir`` from :func:`checklist_status`."""
    lines = [
        f"# Validation dossier: {run_name}",
        "",
        "The reporting checklists walked item by item. An answer filled by medclass names the run file it was read",
        f'from (links are relative to this file); every other item is marked "{AUTHORS}": ethics, clinical context,',
        "funding and whatever else a tool cannot know. Check every filled answer before it goes into a paper.",
        "",
        f"Model card (Mitchell et al. 2019 fields, intended and out-of-scope use): [{MODEL_CARD_FILE}]({MODEL_CARD_FILE}).",
        "",
    ]
    for checklist in status.values():
        lines.append(
            f"- {checklist['title']}: {checklist['filled']} of {checklist['total']} items filled from the run"
        )
    lines += ["", f"![Image flow: found, unreadable, duplicates, per split and class]({FLOW_FIGURE})", ""]
    lines += evidence_sections(validation)
    shortcuts = (validation or {}).get("shortcuts") or {}
    if shortcuts:
        lines += ["## Shortcut screens", ""]
        for key in ("metadata", "masked_anatomy", "outside_body"):
            screen = shortcuts.get(key) or {}
            if screen:
                flag = {True: "**FLAGGED**", False: "not flagged", None: "not run"}[screen.get("flagged")]
                lines += [f"- `{key}` ({flag}): {screen.get('verdict', '')} Rule: {screen.get('rule', '')}."]
                figure = figure_path(out_dir, screen.get("figure"))
                if figure:
                    lines += ["", f"  ![{key}]({figure})"]
        lines.append("")
    for checklist in status.values():
        lines += [f"## {checklist['title']}", ""]
        lines += [f"- {citation}" for citation in checklist["citations"]]
        lines += ["", f"*Item list:* {checklist['verification']}", ""]
        lines += ["| item | section | topic | answer | source |", "|---|---|---|---|---|"]
        for item_id, item in checklist["items"].items():
            answer = item["answer"] if item["filled"] else f"*{AUTHORS}*"
            row = [item_id, item["section"], item["topic"], answer, _links(item["source"])]
            lines.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
        lines.append("")
    return "\n".join(lines)


def write_dossier(run_dir: str | Path, out_dir: str | Path, validation: dict[str, Any] | None = None) -> Path:
    """Write ``out_dir/dossier.md`` and ``dossier.html``, the model card ``model_card.md`` and the image flow
    diagram ``figures/participant_flow.png`` they link, for the run.

    Args:
        run_dir: the run folder (config.yaml, splits.csv, data_report.json, test_metrics.json, ...).
        out_dir: the folder the dossier goes to (a validation folder; created if missing).
        validation: ``medclass validate``'s results (the content of ``out_dir/validation.json``, which must be
            written first for its facts to be cited); None: the run's facts only.

    Returns:
        The path of ``dossier.md``. (Call :func:`checklist_status` after it: the status then cites the flow
        diagram too.)

    Raises:
        RunDirError: ``run_dir`` is not a run folder.

    Example:
        >>> write_dossier("runs/yesno", "runs/yesno/validation")  # doctest: +SKIP
        PosixPath('runs/yesno/validation/dossier.md')
    """
    run_dir, out = Path(run_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = load_run(run_dir)
    flow_figure(run.data_report or {}, out / FLOW_FIGURE)
    status = checklist_status(run_dir, out, validation)
    (out / MODEL_CARD_FILE).write_text(model_card_markdown(run_dir), encoding="utf-8")
    text = render_dossier(run.name, status, validation, out)
    path = out / DOSSIER_FILE
    path.write_text(text, encoding="utf-8")
    (out / DOSSIER_HTML_FILE).write_text(dossier_html(run.name, text), encoding="utf-8")
    return path


def dossier_html(run_name: str, markdown: str) -> str:
    """``dossier.html``: the Markdown of the dossier as a self-contained page (figures linked, as in the
    Markdown, relative to the folder). Raw HTML in the Markdown is escaped, not passed through: the answers
    quote paths and names from the user's data."""
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return page(f"Validation dossier: {run_name}", f'{DOSSIER_CSS}<div class="dossier">{body}</div>')
