"""SPACE.yaml parsing and validation, suggestions into a config tree, grids and scatter parameters."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml

from medclass.campaigns.search_space import apply_values, check_space, load_space, parse_space
from medclass.config import build_config
from medclass.utils.errors import ConfigError

SPACE_YAML = """
lr: {type: float, low: 1e-4, high: 1e-2, log: true}
batch_size: {type: categorical, choices: [16, 32]}
trainer.patience: {type: int, low: 2, high: 6, step: 2}
model.cnn.blocks:
  type: categorical
  choices:
    wide: [{out_channels: 64, kernel: 5}]
    deep: [{out_channels: 16}, {out_channels: 32}, {out_channels: 64}]
"""


def test_aliases_resolve_and_yaml_exponents_are_numbers(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(SPACE_YAML)
    space = load_space(path)
    assert [p.key for p in space.params] == [
        "optim.lr",
        "data.batch_size",
        "trainer.patience",
        "model.cnn.blocks",
    ]
    lr = space.param("lr")
    assert (lr.kind, lr.low, lr.high, lr.log) == ("float", 1e-4, 1e-2, True)  # "1e-4" is a string in YAML 1.1
    assert list(space.param("model.cnn.blocks").choices) == ["wide", "deep"]
    assert space.scatter_params() == ("lr", "batch_size")  # the first two numeric parameters


def test_suggested_values_land_in_a_valid_config() -> None:
    space = parse_space(yaml.safe_load(SPACE_YAML))
    trial = optuna.trial.FixedTrial(
        {"lr": 0.002, "batch_size": 32, "trainer.patience": 4, "model.cnn.blocks": "deep"}
    )
    values = space.suggest(trial)
    tree = apply_values({"model": {"name": "cnn"}, "optim": {"name": "adam"}}, values)
    config = build_config(tree)
    assert config.optim.lr == 0.002 and config.optim.name == "adam"
    assert config.data.batch_size == 32 and config.trainer.patience == 4
    assert [b.out_channels for b in config.model.cnn.blocks] == [16, 32, 64]
    # A stored trial's parameters map back to the same config values (labels become block lists).
    assert space.values_of(trial.params) == values


def test_a_real_study_samples_inside_the_bounds() -> None:
    space = parse_space(yaml.safe_load(SPACE_YAML))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = []
    for _ in range(30):
        trial = study.ask()
        seen.append(space.suggest(trial))
        study.tell(trial, 0.0)
    assert all(1e-4 <= v["optim.lr"] <= 1e-2 for v in seen)
    assert {v["trainer.patience"] for v in seen} <= {2, 4, 6}
    assert {v["data.batch_size"] for v in seen} == {16, 32}
    assert {len(v["model.cnn.blocks"]) for v in seen} == {1, 3}


def test_unnamed_structured_choices_get_readable_labels() -> None:
    space = parse_space({"model.cnn.dense": {"type": "categorical", "choices": [[32], [64, 16]]}})
    param = space.param("model.cnn.dense")
    assert param.choices == {"[32]": [32], "[64,16]": [64, 16]}
    assert not param.numeric


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"lr": {"type": "uniform", "low": 0, "high": 1}}, "lr: type = 'uniform': must be one of float, int"),
        ({"lr": {"type": "float", "low": 0.1, "high": 1, "logg": True}}, "unknown field(s) ['logg']"),
        ({"lr": {"type": "float", "low": 0.1, "high": 0.01}}, "low = 0.1 must be below high = 0.01"),
        ({"lr": {"type": "float", "low": 0, "high": 0.1, "log": True}}, "log = true needs low > 0"),
        ({"epochs": {"type": "int", "low": 1.5, "high": 4}}, "must be whole numbers"),
        ({"model": {"type": "categorical", "choices": []}}, "model: choices is empty"),
        ({"lr": {"type": "float", "low": "a", "high": 1}}, "low = 'a': expected a number"),
        (
            {
                "lr": {"type": "float", "low": 0.1, "high": 1},
                "optim.lr": {"type": "float", "low": 0.1, "high": 1},
            },
            "lr and optim.lr both set optim.lr",
        ),
        (
            {"params": {"lr": {"type": "float", "low": 0.1, "high": 1}}, "scatter": ["lr", "wd"]},
            "no parameter 'wd'",
        ),
        ({}, "no parameters to search"),
    ],
)
def test_bad_specs_name_the_parameter_and_what_is_allowed(spec: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_space(spec, source="space.yaml")
    assert message in str(error.value)
    assert str(error.value).startswith("space.yaml")


def test_check_space_rejects_unknown_keys_and_invalid_values() -> None:
    base = {"model": {"name": "cnn"}}
    check_space(parse_space(yaml.safe_load(SPACE_YAML)), base)  # all valid
    with pytest.raises(ConfigError) as error:
        check_space(parse_space({"optim.lrr": {"type": "float", "low": 0.1, "high": 1}}, "s.yaml"), base)
    assert "optim.lrr" in str(error.value) and "unknown key" in str(error.value) and "lr" in str(error.value)
    with pytest.raises(ConfigError) as error:
        check_space(parse_space({"batch_size": {"type": "categorical", "choices": [8, 0]}}, "s.yaml"), base)
    assert "batch_size (data.batch_size) = 0" in str(error.value)
    with pytest.raises(ConfigError) as error:
        check_space(
            parse_space({"optim.name": {"type": "categorical", "choices": ["adam", "lamb"]}}, "s.yaml"), base
        )
    assert "optim.name (optim.name) = lamb" in str(error.value)


def test_grid_values_and_size() -> None:
    space = parse_space(
        {
            "model": {"type": "categorical", "choices": ["resnet18", "vgg11", "densenet121"]},
            "batch_size": {"type": "int", "low": 8, "high": 32, "step": 8},
            "drop_rate": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.25},
        }
    )
    assert space.grid() == {
        "model": ["resnet18", "vgg11", "densenet121"],
        "batch_size": [8, 16, 24, 32],
        "drop_rate": [0.0, 0.25, 0.5],
    }
    assert space.grid_size() == 36
    continuous = parse_space({"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}})
    with pytest.raises(ConfigError, match="grid sampler needs a finite set"):
        continuous.grid()


CAMPAIGNS = Path(__file__).resolve().parents[2] / "examples" / "campaigns"


@pytest.mark.parametrize(
    ("config", "space"),
    [
        ("resnet_vgg_densenet_sweep.yaml", "resnet_vgg_densenet_sweep.space.yaml"),
        ("cnn_shapes_random_search.yaml", "cnn_shapes_random_search.space.yaml"),
        ("cnn_shapes_random_search.yaml", "cnn_shapes_random_search.quick.space.yaml"),
    ],
)
def test_example_campaign_spaces_fit_their_configs(config: str, space: str) -> None:
    from medclass.config import read_yaml

    search = load_space(CAMPAIGNS / space)
    check_space(search, read_yaml(CAMPAIGNS / config))
    assert search.scatter_params() == ("batch_size", "lr")
