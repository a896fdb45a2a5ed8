"""``medclass.train``'s keyword arguments into a config: the layering (recipe, config, keywords), sections as
dicts, flag names, typed configs, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from medclass.api.keywords import keyword_config
from medclass.config import build_config
from medclass.config.recipes import available_recipes, recipe_tree
from medclass.config.schema import OptimConfig
from medclass.utils.errors import ConfigError, RunDirError


def test_common_keywords_set_their_config_keys() -> None:
    cfg = keyword_config(Path("data/x"), model="cnn", epochs=3, image_size=64, name="first", out=Path("o"))
    assert (cfg.data.path, cfg.model.name, cfg.trainer.epochs, cfg.data.image_size) == (
        "data/x",
        "cnn",
        3,
        64,
    )
    assert (cfg.name, cfg.out) == ("first", "o")


def test_keywords_left_at_none_keep_the_defaults() -> None:
    assert keyword_config("data/x") == build_config({"data": {"path": "data/x"}})


def test_a_section_is_a_dict_merged_into_it_and_flag_names_and_top_level_keys_work() -> None:
    cfg = keyword_config("d", optim={"lr": 3e-4}, trainer={"patience": None}, batch_size=8, seed=7)
    assert cfg.optim.lr == 3e-4 and cfg.optim.name == "adamw"  # the rest of the section is kept
    assert cfg.trainer.patience is None and cfg.data.batch_size == 8 and cfg.seed == 7


def test_data_and_model_take_their_section_as_a_dict_and_typed_sections_set_every_field() -> None:
    cfg = keyword_config({"path": "d", "channels": 3}, model={"name": "cnn", "drop_rate": 0.2})
    assert (cfg.data.path, cfg.data.channels, cfg.model.name, cfg.model.drop_rate) == ("d", 3, "cnn", 0.2)
    assert keyword_config("d", optim=OptimConfig(lr=0.01, name="sgd")).optim.name == "sgd"


def test_keywords_override_the_config_which_overrides_the_recipe() -> None:
    recipe = available_recipes()[0]
    base = recipe_tree(recipe)
    cfg = keyword_config("d", recipe=recipe, config={"seed": 5}, epochs=2)
    assert cfg.recipe == recipe and cfg.seed == 5 and cfg.trainer.epochs == 2
    assert cfg.data.image_size == base.get("data", {}).get("image_size", 128)


def test_a_config_object_is_taken_as_it_is_positionally_or_by_keyword() -> None:
    typed = build_config({"data": {"path": "d"}, "trainer": {"epochs": 4}})
    assert keyword_config(typed) == typed
    assert keyword_config(config=typed, image_size=64).data.image_size == 64
    with pytest.raises(ConfigError, match="Config object"):
        keyword_config(config=typed, recipe=available_recipes()[0])


def test_an_unknown_key_or_bad_value_is_named() -> None:
    with pytest.raises(ConfigError, match=r"medclass.train: optim.learning_rate = .*unknown key"):
        keyword_config("d", optim={"learning_rate": 1})
    with pytest.raises(ConfigError, match="trainer.epochs"):
        keyword_config("d", epochs=0)


def test_resume_reads_the_saved_config_of_out(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="needs out="):
        keyword_config(resume=True)
    with pytest.raises(RunDirError, match="no config.yaml"):
        keyword_config(resume=True, out=tmp_path)
    (tmp_path / "config.yaml").write_text("data: {path: saved}\ntrainer: {epochs: 9}\n")
    cfg = keyword_config(resume=True, out=tmp_path, recipe=available_recipes()[0])
    assert (cfg.data.path, cfg.trainer.epochs, cfg.recipe) == ("saved", 9, None)
