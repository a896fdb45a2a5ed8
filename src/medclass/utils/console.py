"""The console medclass prints to."""

from __future__ import annotations

from rich.console import Console


def default_console(stderr: bool = False) -> Console:
    """A rich console that does not wrap long lines (paths, metric lines) at 80 columns in logs and pipes."""
    return Console(stderr=stderr, soft_wrap=True)
