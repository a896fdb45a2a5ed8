"""The keyword arguments of ``medclass.train`` (:func:`medclass.facade.train`) into a validated config: the
recipe, then ``config``, then the keywords, as ``medclass train --recipe --config`` and its flags layer them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from medclass.config import Config, build_config, config_tree, merge_trees, read_yaml
from medclass.config.recipes import recipe_tree
from medclass.runs import CONFIG_FILE
from medclass.utils.errors import ConfigError, RunDirError

# What a section keyword (``optim=``, ``data=``) may be: a mapping sets its keys, a typed section every field.
Settings = Mapping[str, Any] | BaseModel


def keyword_config(
    data: str | Path | Settings | None = None,
    *,
    model: str | Settings | None = None,
    epochs: int | None = None,
    image_size: int | None = None,
    recipe: str | None = None,
    config: Config | Mapping[str, Any] | str | Path | None = None,
    name: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    **overrides: Any,
) -> Config:
    """The validated config that ``medclass.train`` runs with the same arguments (nothing is trained).

    The keywords are those of ``medclass.train`` (:func:`medclass.facade.train`), which documents them.

    Raises:
        ConfigError: a bad key or value, or ``recipe`` with a :class:`Config` object.
        RunDirError: ``resume`` without a run folder ``out`` to continue.
    """
    if isinstance(data, Config):  # medclass.train(cfg): the config as it is
        data, config = None, data
    if recipe is not None and isinstance(config, Config):
        raise ConfigError(
            f"recipe={recipe!r} with a Config object, which sets every key: give the Config alone, or a dict "
            "or YAML file (config=) to layer over the recipe"
        )
    tree = merge_trees(recipe_tree(recipe) if recipe else {}, config_tree(config))
    if resume:
        tree = read_yaml(resumed_config_file(out))
    values: dict[str, Any] = {
        "trainer.epochs": epochs,
        "data.image_size": image_size,
        "name": name,
        "out": out,
    }
    for key, value in {"data": data, "model": model, **overrides}.items():
        if isinstance(value, Mapping | BaseModel):
            tree = merge_trees(tree, {key: config_tree(value)})
        else:
            values[key] = value
    plain = {key: str(value) if isinstance(value, Path) else value for key, value in values.items()}
    return build_config(tree, values=plain, source="medclass.train")


def resumed_config_file(out: str | Path | None) -> Path:
    """``out/config.yaml`` of the run that ``resume=True`` continues.

    Raises:
        RunDirError: no ``out``, or no config.yaml in it.
    """
    if out is None:
        raise RunDirError("resume=True needs out= (the run folder to continue)")
    saved = Path(out) / CONFIG_FILE
    if not saved.is_file():
        raise RunDirError(f"{out}: not a run folder to resume (no {CONFIG_FILE})")
    return saved
