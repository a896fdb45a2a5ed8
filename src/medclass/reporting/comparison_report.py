"""The comparison page of ``medclass compare``: the table of variants, its legend and the plots, styled as
the run report (built by the caller from the comparison, so this package does not import ``campaigns``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from medclass.reporting.html_kit import esc, image, page, table


def write_comparison_page(
    path: Path,
    subtitle: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    best_rows: Sequence[bool],
    legend: str,
    figures: Sequence[Path],
    sections: Sequence[tuple[str, Sequence[str], Sequence[Sequence[str]]]] = (),
) -> Path:
    """Write the comparison as one self-contained HTML page.

    Args:
        path: the HTML file.
        subtitle: the line under the title (how many variants, which is best).
        headers, rows: the comparison table, cells pre-formatted.
        best_rows: which rows to highlight (the best variant).
        legend: what the columns mean.
        figures: PNG plots shown two to a row.
        sections: more tables after the first, each ``(title, headers, rows)``.
    """
    body = (
        f"<h1>Comparison</h1><p class='sub'>{esc(subtitle)}</p>"
        + table(headers, rows, "comparison", ["best" if b else "" for b in best_rows])
        + "".join(
            f"<h2>{esc(title)}</h2>" + table(more_headers, more_rows, f"comparison-{k + 1}")
            for k, (title, more_headers, more_rows) in enumerate(sections)
        )
        + f"<p class='note'>{esc(legend)}</p><div class='figs'>"
        + "".join(image(f, f.stem.replace("_", " "), half=True) for f in figures)
        + "</div>"
    )
    path.write_text(page("medclass comparison", body), encoding="utf-8")
    return path
