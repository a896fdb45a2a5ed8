"""Headless Chromium for the browser tests: Debian's package, driven by Playwright (its own browser download is
never used). Skips outside CI and fails in CI when Chromium or Playwright is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

from requirements_gate import missing

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


def require_chromium() -> str:
    """The Chromium path, after checking that Playwright imports (else skip, or fail in CI)."""
    path = chromium_path()
    if path is None:
        missing("Chromium not installed (/usr/bin/chromium); `bash scripts/install-sysdeps.sh` installs it")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("the playwright Python package is not installed (pip install -e '.[dev]')")
    return path
