"""The report in a real browser: headless Chromium (Debian's package, driven by Playwright) renders every
embedded image and the metric table. Playwright's own browser download is never used."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import CHROMIUM_ARGS, require_chromium
from PIL import Image
from reporting.test_html import make_run_folder

from medclass.reporting.figures import write_run_figures
from medclass.reporting.run_report import write_report
from medclass.runs import load_run


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


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
