"""``medclass demo``: make the phantom data set, inspect it, train, evaluate and report, in one go."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rich.console import Console

from medclass.api.train import TrainResult, train
from medclass.config import build_config, read_yaml
from medclass.data.inspect import inspect_data, render_inspect
from medclass.data.synthetic import make_phantom_dataset
from medclass.utils.console import default_console

DEMO_CONFIG = "demo.yaml"


def demo_config_path() -> Path:
    """The packaged demo config."""
    return Path(str(resources.files("medclass.configs") / DEMO_CONFIG))


def demo(
    data_dir: str | Path = "demo_data",
    out: str | Path | None = None,
    n_per_class: int = 100,
    overrides: list[str] | None = None,
    console: Console | None = None,
) -> TrainResult:
    """Generate (once) ``n_per_class`` phantom images per class in ``data_dir``, then train on them.

    Returns:
        The finished run: a new dated folder under runs/ unless ``out`` is given, so runs are never
        overwritten.
    """
    console = console or default_console()
    data_dir = Path(data_dir)
    if not (data_dir / "tumor").is_dir():
        console.print(f"generating {2 * n_per_class} phantom MRI images in {data_dir} ...")
        make_phantom_dataset(data_dir, n_per_class=n_per_class, size=128, seed=0)
    else:
        console.print(f"using the phantom images already in {data_dir}")
    values = {"data.path": str(data_dir), "out": str(out) if out else None}
    config = build_config(read_yaml(demo_config_path()), overrides or [], values, source=DEMO_CONFIG)
    render_inspect(inspect_data(data_dir), console)
    return train(config, console=console)
