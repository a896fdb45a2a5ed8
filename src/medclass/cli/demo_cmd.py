"""``medclass demo``: the whole job on a built-in synthetic MRI set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import console
from medclass.cli.options import SetOpt


def demo(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where the phantom images go.")] = Path(
        "demo_data"
    ),
    out: Annotated[
        Path | None, typer.Option("--out", help="Run folder.", show_default="a new one under runs/")
    ] = None,
    n_per_class: Annotated[int, typer.Option("--n-per-class", min=1, help="Phantom images per class.")] = 100,
    set_: SetOpt = None,
) -> None:
    """Generate phantom brain MRI (tumour / no tumour), inspect, train, evaluate and report."""
    from medclass.api.demo import demo as run_demo

    run_demo(data_dir, out=out, n_per_class=n_per_class, overrides=set_ or [], console=console)
