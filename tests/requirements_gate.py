"""What a test needs from the machine (data sets, a browser, a database): skip outside CI, fail in CI.

CI sets ``CI=true``. There a missing requirement must fail the run with its name, or a broken set-up would
turn every real-data, browser and database test into a silent skip and the run would still pass.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

CI_ENV = "CI"


def in_ci() -> bool:
    """True when ``$CI`` is set to anything but empty, ``0``, ``false`` or ``no`` (CI services set ``true``)."""
    return os.environ.get(CI_ENV, "").strip().lower() not in ("", "0", "false", "no")


def missing(reason: str) -> NoReturn:
    """Skip the test with ``reason`` (printed), or fail it when running in CI."""
    if in_ci():
        pytest.fail(f"required in CI ({CI_ENV}=true) but missing: {reason}", pytrace=False)
    print(f"SKIP: {reason}")
    pytest.skip(reason)
