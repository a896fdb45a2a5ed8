"""Run configuration: pydantic schema, YAML loading, ``--set`` overrides and the resolved dump."""

from medclass.config.loader import (
    ALIASES,
    apply_overrides,
    build_config,
    config_to_dict,
    config_tree,
    config_yaml,
    load_config,
    merge_trees,
    parse_override,
    read_config_tree,
    read_yaml,
    resolve_key,
    save_config,
    set_dotted,
)
from medclass.config.safe_yaml import quote
from medclass.config.schema import Config

__all__ = [
    "ALIASES",
    "Config",
    "apply_overrides",
    "build_config",
    "config_to_dict",
    "config_tree",
    "config_yaml",
    "load_config",
    "merge_trees",
    "parse_override",
    "quote",
    "read_config_tree",
    "read_yaml",
    "resolve_key",
    "save_config",
    "set_dotted",
]
