"""Named recipes (``medclass train --recipe NAME``): YAML configs shipped in ``medclass/configs/recipes/``.

A recipe is the bottom layer of a run's config: ``--config`` files override it, flags and ``--set`` override
both, and the resolved config records its name (``recipe``). One file per recipe, so a name cannot be given
twice; an unknown name is an error listing the known ones (with the closest).
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any

from medclass.config.loader import read_config_tree
from medclass.utils.errors import ConfigError

_PACKAGE = "medclass.configs"
_FOLDER = "recipes"
_SUFFIX = ".yaml"


def _folder() -> Path:
    return Path(str(resources.files(_PACKAGE) / _FOLDER))


def available_recipes() -> list[str]:
    """The names of the shipped recipes, sorted."""
    return sorted(p.name.removesuffix(_SUFFIX) for p in _folder().glob(f"*{_SUFFIX}"))


def recipe_file(name: str) -> Path:
    """The YAML file of recipe ``name``.

    Raises:
        ConfigError: an unknown name, listing the available recipes (and the closest ones).
    """
    names = available_recipes()
    if name in names:
        return _folder() / f"{name}{_SUFFIX}"
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"--recipe {name!r}: unknown recipe.{hint} Available: {', '.join(names) or 'none'}")


def recipe_tree(name: str) -> dict[str, Any]:
    """The config tree of recipe ``name`` (its ``base:`` files resolved), with ``recipe: name`` set."""
    tree = read_config_tree(recipe_file(name))
    tree["recipe"] = name
    return tree


def recipe_notes(name: str) -> list[str]:
    """The paragraphs of the comment block at the top of recipe ``name``'s YAML, each joined into one line.

    By convention a recipe's header says what it is for (first paragraph), how it was built, and what it was
    measured on and what it scored (the paragraph starting ``Measured``); paragraphs are separated by an empty
    ``#`` line.

    Raises:
        ConfigError: an unknown name (see :func:`recipe_file`).
    """
    paragraphs: list[list[str]] = [[]]
    for line in recipe_file(name).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text:
            paragraphs[-1].append(text)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [" ".join(lines) for lines in paragraphs if lines]
