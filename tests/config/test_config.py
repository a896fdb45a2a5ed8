"""Config loading: YAML + base files + --set overrides + aliases, validated with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from medclass.config import build_config, load_config, parse_override, save_config
from medclass.utils.errors import ConfigError


def test_defaults_validate_and_fill_the_augment_preset() -> None:
    config = build_config()
    assert config.model.name == "resnet18"
    assert config.augment.preset == "standard" and config.augment.rotation == 15.0


def test_overrides_parse_yaml_values_and_accept_aliases() -> None:
    config = build_config(
        {"optim": {"lr": 0.1}},
        [
            "lr=3e-4",
            "batch_size=8",
            "model=cnn",
            "model.cnn.blocks=[{out_channels: 4}]",
            "trainer.patience=null",
        ],
    )
    assert config.optim.lr == pytest.approx(3e-4)
    assert config.data.batch_size == 8 and config.model.name == "cnn"
    assert [b.out_channels for b in config.model.cnn.blocks] == [4]
    assert config.trainer.patience is None
    assert parse_override("epochs=5") == ("trainer.epochs", 5)


def test_explicit_augment_values_win_over_the_preset() -> None:
    config = build_config({"augment": {"preset": "strong", "rotation": 0, "sharpness": {"factor": 1.5}}})
    assert config.augment.rotation == 0 and config.augment.hflip == 0.5
    assert config.augment.sharpness.factor == 1.5 and config.augment.sharpness.p == 0.2


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        ({"optim": {"nam": "adam"}}, r"optim\.nam = 'adam': unknown key \(allowed: name, lr"),
        ({"optim": {"name": "lamb"}}, r"optim\.name = 'lamb': Input should be 'adam', 'adamw' or 'sgd'"),
        ({"data": {"image_size": 4}}, r"data\.image_size = 4: .*greater than or equal to 8"),
        ({"split": {"val_frac": 0.6, "test_frac": 0.5}}, r"val_frac \+ split\.test_frac = 1\.1: must be < 1"),
        ({"lr": 0.1}, r"lr = 0\.1: unknown key .*did you mean optim\.lr\?"),
    ],
)
def test_errors_name_the_key_the_value_and_what_is_allowed(tree: dict, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        build_config(tree)


def test_bad_override_syntax_is_explained() -> None:
    with pytest.raises(ConfigError, match="expected key.path=value"):
        build_config(overrides=["optim.lr"])
    with pytest.raises(ConfigError, match="optim.lr is a value, not a section"):
        build_config({"optim": {"lr": 0.1}}, overrides=["optim.lr.x=1"])
    with pytest.raises(ConfigError, match=r"optim\.lr = \{'x': 1\}: Input should be a valid number"):
        build_config(overrides=["optim.lr.x=1"])


def test_yaml_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing.yaml: not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [unclosed")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listing)


def test_base_files_merge_section_by_section(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.yaml").write_text(
        yaml.safe_dump({"model": {"name": "cnn", "drop_rate": 0.3}, "optim": {"lr": 0.01}})
    )
    (tmp_path / "exp.yaml").write_text(
        yaml.safe_dump({"base": "models/net.yaml", "optim": {"name": "sgd"}, "model": {"drop_rate": 0.5}})
    )
    config = load_config(tmp_path / "exp.yaml")
    assert config.model.name == "cnn" and config.model.drop_rate == 0.5
    assert config.optim.name == "sgd" and config.optim.lr == 0.01


def test_a_base_cycle_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="refers back to itself"):
        load_config(tmp_path / "a.yaml")


def test_saved_config_reloads_to_the_same_config(tmp_path: Path) -> None:
    config = build_config({"augment": {"preset": "strong"}, "model": {"name": "cnn"}}, ["lr=0.02"])
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


def test_every_example_config_is_valid() -> None:
    examples = sorted((Path(__file__).parents[2] / "examples").rglob("*.yaml"))
    assert examples, "examples/ holds configs"
    for path in examples:
        if "campaigns" in path.parts:  # grids and search spaces have their own schema (tests/tuning)
            continue
        load_config(path)


def test_apply_overrides_keeps_the_tree_unvalidated_and_unshared() -> None:
    from medclass.config import apply_overrides

    tree = {"optim": {"lr": 0.1}}
    merged = apply_overrides(tree, ["optim.name=sgd"], {"lr": 0.5, "epochs": None})
    assert merged == {"optim": {"lr": 0.5, "name": "sgd"}}
    assert tree == {"optim": {"lr": 0.1}}


def test_stopping_rule_says_when_there_is_no_early_stopping() -> None:
    from medclass.config.schema import TrainerConfig

    assert TrainerConfig().stopping_rule() == "10 epochs, early stop on val_loss (patience 5)"
    rule = TrainerConfig(epochs=10, patience=None, refit=True).stopping_rule()
    assert rule == "10 epochs, no early stopping (best epoch by val_loss), then refit on train+val"


def test_model_pretrained_and_freeze_values() -> None:
    config = build_config({})
    assert (config.model.pretrained, config.model.freeze, config.data.normalize) == ("auto", "none", "auto")
    assert build_config({}, ["model.pretrained=false"]).model.pretrained is False
    assert build_config({}, ["model.pretrained=true", "model.freeze=backbone"]).model.freeze == "backbone"
    with pytest.raises(ConfigError, match="model.pretrained = 'sometimes'"):
        build_config({}, ["model.pretrained=sometimes"])
    with pytest.raises(ConfigError, match="model.freeze = 'head'"):
        build_config({}, ["model.freeze=head"])


@pytest.mark.parametrize("old, new", [(True, "backbone"), (False, "none")])
def test_freeze_backbone_of_older_configs_reads_as_freeze(
    old: bool, new: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump({"model": {"freeze_backbone": old, "unfreeze_after_epochs": 2}}))
    with caplog.at_level("WARNING", logger="medclass.config.loader"):
        config = load_config(path)
    assert (config.model.freeze, config.model.unfreeze_after_epochs) == (new, 2)
    assert f"{path}: model.freeze_backbone is deprecated; read as model.freeze: {new}" in caplog.text
    assert "freeze_backbone" not in yaml.safe_load(yaml.safe_dump(config.model_dump(mode="json")))["model"]
    with pytest.raises(ConfigError, match="freeze_backbone"):  # both spellings: the old one is named
        build_config({"model": {"freeze_backbone": True, "freeze": "none"}})
