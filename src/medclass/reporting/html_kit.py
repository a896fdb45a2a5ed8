"""The small HTML kit of medclass's pages: the shared stylesheet, escaping and number formatting, tables,
embedded PNG figures, and the Jinja2 templates (package data under ``reporting/templates``) the run report
and the comparison report are rendered with.

Pages are self-contained: figures are embedded as base64 PNGs, the CSS is inline, there are no scripts and no
external requests, so a page opens offline and can be mailed or archived as it is.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path, PurePath
from typing import Any

import jinja2
from markupsafe import Markup

# Figures shown two to a row are at most this wide, and never shrunk below MIN_SCALE of their pixel size
# (the plots are drawn at 110 dpi with 9-10 pt text: below ~0.8 the legends become hard to read).
HALF_WIDTH = 560
MIN_SCALE = 0.8

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2330;
       background: #f6f7f9; line-height: 1.45; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
h1 { margin: 0 0 4px; font-size: 1.7em; } h2 { margin-top: 2em; border-bottom: 2px solid #e3e6ea;
     padding-bottom: 4px; font-size: 1.3em; } h3 { font-size: 1.05em; margin: 1.3em 0 0.4em; }
.sub { color: #5b6473; margin: 0 0 16px; }
nav { font-size: 0.92em; margin: 8px 0 0; } nav a { margin-right: 12px; color: #2759a8; text-decoration: none; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0; }
.card { border: 1px solid #dfe3e8; border-radius: 8px; padding: 10px 16px; min-width: 150px; }
.card .v { font-size: 1.45em; font-weight: 600; } .card .k { color: #5b6473; font-size: 0.85em; }
.card .ci { color: #5b6473; font-size: 0.8em; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 0.92em; }
th, td { border: 1px solid #dfe3e8; padding: 5px 10px; text-align: right; vertical-align: top; }
th { background: #f1f3f6; } td:first-child, th:first-child { text-align: left; }
tr.best td { background: #fff6d6; font-weight: 600; } tr.total td { font-weight: 600; }
td.path { text-align: left; font-family: ui-monospace, monospace; font-size: 0.85em; word-break: break-all; }
.figs { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
figure { margin: 8px 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eceef1; }
figcaption { color: #5b6473; font-size: 0.85em; max-width: 900px; }
.note { color: #5b6473; font-size: 0.9em; } .missing { color: #9a5b00; font-size: 0.9em; }
pre { background: #f6f8fa; padding: 12px; overflow-x: auto; font-size: 0.85em; }
details summary { cursor: pointer; color: #2759a8; }
"""


def esc(value: Any) -> str:
    """HTML-escaped text of any value."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals, ``–`` for a missing value."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    table_id: str | None = None,
    row_classes: Sequence[str] | None = None,
) -> str:
    """An HTML table; cells are escaped (pass numbers pre-formatted; a ``PurePath`` cell is set as a file path).

    Args:
        headers: column titles.
        rows: one sequence of cells per row.
        table_id: the table's ``id`` (tests and readers' links find tables by it).
        row_classes: a CSS class per row (``""`` for none), e.g. ``best`` or ``total``.
    """
    ident = f' id="{esc(table_id)}"' if table_id else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(
            f'<td class="path">{esc(c)}</td>' if isinstance(c, PurePath) else f"<td>{esc(c)}</td>"
            for c in row
        )
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def png_width(data: bytes) -> int | None:
    """Pixel width from a PNG's IHDR chunk (None if ``data`` is not a PNG)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big")


def image(
    path: Path | None, alt: str, caption: str = "", half: bool = False, skipped: str | None = None
) -> str:
    """A figure with the PNG embedded as a data URI, or a note saying why it is missing.

    ``half`` figures are shown two to a row (at most :data:`HALF_WIDTH` px) unless that would shrink them below
    :data:`MIN_SCALE` of their size (e.g. a legend beside the axes): those keep their own width and wrap.
    """
    if path is None or not path.is_file():
        reason = f": {skipped}" if skipped else ""
        return f'<p class="missing">{esc(alt)} not available{esc(reason)}.</p>'
    raw = path.read_bytes()
    width = png_width(raw)
    shrink = half and width is not None and width > HALF_WIDTH and HALF_WIDTH / width >= MIN_SCALE
    style = f' style="width: {HALF_WIDTH}px"' if shrink else ""  # the CSS max-width: 100% still applies
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    data = base64.b64encode(raw).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}"{style}>{cap}</figure>'


@cache
def _environment() -> jinja2.Environment:
    # PackageLoader finds the templates inside an installed wheel as well as in a source checkout.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("medclass.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>``; values are escaped unless wrapped in :func:`raw`."""
    return _environment().get_template(template).render(css=Markup(CSS), fmt=fmt, **context)


def raw(fragment: str) -> Markup:
    """HTML built by this kit (already escaped), to insert into a template as it is."""
    return Markup(fragment)


def page(title: str, body: str) -> str:
    """A whole self-contained HTML page around ``body`` (HTML from this kit)."""
    return render("page.html.j2", title=title, body=raw(body))
