"""``medclass profile``: parameters, per-layer table, multiply-adds and latency of a model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from medclass.cli.base import console
from medclass.cli.options import ConfigOpt, SetOpt, config_option
from medclass.utils.errors import ConfigError


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise ConfigError(f"--batch-sizes {text!r}: expected comma-separated integers, e.g. 1,32") from None
    if any(b < 1 for b in sizes):
        raise ConfigError(f"--batch-sizes {text!r}: batch sizes must be >= 1")
    return sizes


def print_report(report: dict[str, Any], layers: bool = True) -> None:
    """Print a profile report as the layer table and a summary."""
    from rich.table import Table

    if layers:
        table = Table(title=f"{report['model']} layers", show_lines=False)
        for column, justify in (
            ("layer", "left"),
            ("type", "left"),
            ("output shape", "right"),
            ("params", "right"),
        ):
            table.add_column(column, justify=justify)
        for row in report["layers"]:
            shape = " x ".join(map(str, row["output_shape"])) if row["output_shape"] else "-"
            table.add_row(row["name"], row["type"], shape, f"{row['params']:,}")
        console.print(table)
    params = report["params"]
    console.print(
        f"[bold]{report['model']}[/] at {report['image_size']} px, {report['in_chans']} channel(s), "
        f"{report['num_classes']} classes"
    )
    console.print(f"  parameters: {params['total']:,} total, {params['trainable']:,} trainable")
    console.print(f"  compute:    {report['gmacs']:.3f} GMACs per image ({report['flops'] / 1e9:.3f} GFLOPs)")
    console.print(f"              {report['convention']}", style="dim")
    for lat in report["latency"]:
        console.print(
            f"  latency:    batch {lat['batch_size']}: {lat['median_ms']:.1f} ms median, {lat['min_ms']:.1f} ms "
            f"fastest of {lat['repeats']} runs after warm-up ({lat['ms_per_image']:.2f} ms/image, "
            f"{lat['images_per_s']:.1f} images/s)"
        )
    if report["latency"]:
        console.print(
            f"  device:     {report['device']}, {report['threads']} CPU thread(s), torch {report['torch']}"
        )


def profile(
    model: Annotated[
        str | None,
        config_option(
            "model.name", "--model", help="Model name (see available models), 'timm:<name>' or 'cnn'."
        ),
    ] = None,
    image_size: Annotated[
        int | None, config_option("data.image_size", "--image-size", help="Input side in pixels.")
    ] = None,
    in_chans: Annotated[
        int | None,
        typer.Option("--in-chans", min=1, help="Input channels.", show_default="data.channels"),
    ] = None,
    num_classes: Annotated[int, typer.Option("--num-classes", min=1, help="Classifier outputs.")] = 2,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON.", show_default="none")
    ] = None,
    batch_sizes: Annotated[
        str, typer.Option("--batch-sizes", help="Batch sizes to time, comma-separated.")
    ] = "1,32",
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed runs per batch size (median).")] = 5,
    latency: Annotated[bool, typer.Option("--latency/--no-latency", help="Measure latency.")] = True,
    layers: Annotated[bool, typer.Option("--layers/--no-layers", help="Print the per-layer table.")] = True,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="CPU threads for torch.", show_default="torch's")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N.")] = "cpu",
) -> None:
    """Parameters, per-layer table, multiply-adds (GMACs) per image and latency of a model.

    A custom CNN is profiled from its YAML: medclass profile --config examples/models/seed_cnn3.yaml
    """
    from medclass.api.profile import profile as run_profile

    report = run_profile(
        config=config,
        model=model,
        image_size=image_size,
        in_chans=in_chans,
        num_classes=num_classes,
        overrides=overrides,
        batch_sizes=_batch_sizes(batch_sizes) if latency else (),
        repeats=repeats,
        threads=threads,
        device=device,
        json_out=json_path,
    )
    print_report(report, layers=layers)
    if json_path is not None:
        console.print(f"  report:     {json_path}")
