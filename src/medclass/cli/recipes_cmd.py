"""``medclass recipes``: the named recipes of ``train --recipe``, what each is for and what it scored."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from medclass.cli.base import console


def recipes(
    name: Annotated[
        str | None,
        typer.Argument(help="A recipe to print in full (its YAML); without it, every recipe in brief."),
    ] = None,
) -> None:
    """List the recipes of `medclass train --recipe NAME`: what each is for and what it was measured to score."""
    from medclass.config.recipes import available_recipes, recipe_file, recipe_notes

    if name is not None:
        console.print(escape(recipe_file(name).read_text(encoding="utf-8")), highlight=False)
        return
    for recipe in available_recipes():
        notes = recipe_notes(recipe)
        measured = [note for note in notes if note.startswith("Measured")]
        console.print(f"[bold]{recipe}[/]", highlight=False)
        for note in notes[:1] + measured:
            console.print(f"  {escape(note)}", highlight=False, soft_wrap=False)
        console.print(
            f"  use: medclass train --recipe {recipe} --data DATA; full file: medclass recipes {recipe}"
        )
