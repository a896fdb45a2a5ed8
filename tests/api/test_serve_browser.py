"""The web page of ``medclass serve`` in real headless Chromium (Debian's package, driven by Playwright): a real
scan from the shared data is uploaded through the page and the page shows what ``medclass predict`` says, with
the probability bars, the operating point, the refer flag and the Grad-CAM overlay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api.conftest import make_fast_config
from browser import CHROMIUM_ARGS, require_chromium
from PIL import Image
from serve_process import Served, serve_process

from medclass.api import predict

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.fixture(scope="module")
def yesno_run(shared_datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small binary run on the real brain MRI yes/no set, with a stored operating point (Youden on val)."""
    from medclass.api import train

    out = tmp_path_factory.mktemp("runs") / "yesno"
    config = make_fast_config(
        shared_datasets / "brain_mri_yesno",
        out,
        ["trainer.epochs=1", "evaluation.operating_point=youden", "data.channels=1"],
    )
    train(config)
    return out


@pytest.fixture(scope="module")
def server(yesno_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_process(yesno_run, log=tmp_path_factory.mktemp("serve") / "serve.log") as served:
        yield served


def test_page_shows_the_cli_decision_and_the_overlay(
    server: Served, yesno_run: Path, shared_datasets: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    chromium = require_chromium()
    scan = shared_datasets / "brain_mri_yesno" / "yes" / "Y1.jpg"
    expected = predict(yesno_run, [scan])
    screenshot = tmp_path / "page.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(f"{server.url}/", wait_until="load")
            page.wait_for_selector("#metrics tr")  # the model card with the run's test metrics
            page.check("#uncertainty")
            page.set_input_files("#file", str(scan))
            page.wait_for_selector("#prediction[data-class]", timeout=60_000)
            page.wait_for_function("document.getElementById('overlay').complete")
            shown = page.inner_text("#prediction")
            images = page.eval_on_selector_all(
                "#viewer img", "els => els.map(e => [e.id, e.complete, e.naturalWidth, e.naturalHeight])"
            )
            bars = page.eval_on_selector_all(".bar", "els => els.map(e => e.children[0].textContent)")
            decision = page.inner_text("#decision")
            refer = page.inner_text("#uncertain")
            card = page.inner_text("#metrics")
            page.fill("#opacity", "20")  # the slider drives the overlay's opacity
            opacity = page.eval_on_selector("#overlay", "e => getComputedStyle(e).opacity")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()

    assert shown == expected["prediction"].iloc[0]
    assert {name: (done, w, h) for name, done, w, h in images} == {
        "scan": (True, 32, 32),  # the image as the model saw it: image_size of the run
        "overlay": (True, 32, 32),
    }
    assert sorted(bars) == ["no", "yes"]
    assert "operating point" in decision and "P(yes)" in decision
    assert "refer for review" in refer or "Confident" in refer
    assert "Accuracy" in card and "[" in card  # test metrics with their 95% CI
    assert float(opacity) == pytest.approx(0.2)
    # Everything came from the server itself: no CDN, works offline.
    assert all(url.startswith((server.url, "data:")) for url in requests), requests
    with Image.open(screenshot) as shot:
        assert shot.width == 1280 and shot.height >= 700
