"""The report in a real browser: headless Chromium (Debian's package, driven by Playwright) renders every
embedded image and the metric table. Playwright's own browser download is never used."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image
from reporting.test_html import make_run_folder
from requirements_gate import missing

from medclass.reporting.figures import write_run_figures
from medclass.reporting.run_report import write_report
from medclass.runs import load_run

CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container has no user namespace for the sandbox
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """The system Chromium (``/usr/bin/chromium`` or ``chromium`` on PATH)."""
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        missing("Chromium not installed (/usr/bin/chromium); `bash scripts/install-sysdeps.sh` installs it")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("the playwright Python package is not installed (pip install -e '.[dev]')")
    return path


def test_report_renders_in_headless_chromium(chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    run = make_run_folder(tmp_path)
    figures = write_run_figures(load_run(run))
    report = write_report(run, figures=figures)
    screenshot = tmp_path / "report.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.resolve().as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth, e.naturalHeight])"
            )
            metric_rows = page.eval_on_selector_all(
                "#test-metrics tbody tr", "rows => rows.map(r => r.innerText)"
            )
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert len(images) == len(figures.paths)
    for alt, complete, width, height in images:
        assert complete and width > 0 and height > 0, f"{alt} did not render"
    assert any(row.startswith("Accuracy") for row in metric_rows)
    # The page itself and its embedded data: URIs, nothing from the network or the disk.
    assert [url for url in requests if not url.startswith("data:")] == [report.resolve().as_uri()]
    with Image.open(screenshot) as shot:
        assert shot.width >= 1200 and shot.height > 3000  # a full page, not a blank viewport
