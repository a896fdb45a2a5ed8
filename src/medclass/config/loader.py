"""Load a config from YAML, apply ``key.path=value`` overrides, validate, and save it resolved."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from medclass.config.safe_yaml import MAX_YAML_BYTES, clip, load_yaml, quote
from medclass.config.schema import Config
from medclass.utils.errors import ConfigError
from medclass.utils.io import atomic_write

log = logging.getLogger(__name__)

# Short names accepted wherever a dotted key is: the names of `medclass train`'s flags.
ALIASES: dict[str, str] = {
    "lr": "optim.lr",
    "weight_decay": "optim.weight_decay",
    "batch_size": "data.batch_size",
    "image_size": "data.image_size",
    "model": "model.name",
    "epochs": "trainer.epochs",
    "drop_rate": "model.drop_rate",
    "data": "data.path",
}


def resolve_key(key: str) -> str:
    """Map a short alias (``lr``) to its dotted key (``optim.lr``); dotted keys pass through."""
    return ALIASES.get(key, key)


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``a.b=value`` and parse the value as YAML (``1e-3`` -> float, ``[1, 2]`` -> list).

    Raises:
        ConfigError: if there is no ``=`` or the key is empty.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r}: expected key.path=value, e.g. optim.lr=0.001")
    try:
        value = load_yaml(raw, f"--set {key}") if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return resolve_key(key), value


def set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    """Set ``tree[a][b] = value`` for ``key = "a.b"``, creating intermediate dicts."""
    parts = key.split(".")
    node = tree
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {key}: {'.'.join(parts[: i + 1])} is a value, not a section")
        node = child
    node[parts[-1]] = value


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing, oversized (:data:`~medclass.config.safe_yaml.MAX_YAML_BYTES`) or
    alias-bomb file, or a non-mapping, is a ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path}: not found")
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise ConfigError(
                f"config file {path}: {size:,} bytes; config files are at most {MAX_YAML_BYTES:,} bytes"
            )
        tree = load_yaml(path.read_text(encoding="utf-8"), f"config file {path}") or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: not valid YAML ({clip(str(exc), 500)})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path}: not a text file (expected UTF-8 YAML)") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"config file {path}: expected a mapping of sections, got {type(tree).__name__}")
    return tree


BASE_KEY = "base"


def merge_trees(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: sections merge key by key, any other value of ``override`` replaces the base's."""
    merged = _deep_copy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_trees(merged[key], value)
        else:
            merged[key] = _deep_copy(value)
    return merged


def config_tree(source: BaseModel | Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    """The settings of a typed config or section (every field), a mapping (only its keys) or a YAML file (its
    ``base:`` files resolved), as a tree for :func:`merge_trees` and :func:`build_config`; ``None``: ``{}``."""
    if source is None:
        return {}
    if isinstance(source, BaseModel):
        return config_to_dict(source)
    if isinstance(source, Mapping):
        return _deep_copy(dict(source))
    return read_config_tree(source)


def read_config_tree(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML config, resolving ``base: other.yaml`` (relative to the file; a list merges in order).

    The file's own keys override its bases', section by section, so an experiment can be a few lines on top
    of a shared base config.

    Raises:
        ConfigError: for a missing or cyclic base, or invalid YAML.
    """
    path = Path(path).resolve()
    if path in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path))
        raise ConfigError(f"config file {path}: 'base' refers back to itself ({chain})")
    tree = read_yaml(path)
    bases = tree.pop(BASE_KEY, None) or []
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, list) or not all(isinstance(b, str) and b.strip() for b in bases):
        raise ConfigError(
            f"config file {path}: base = {_short(bases)}: expected a file name or a list of file names "
            "(e.g. base: defaults.yaml)"
        )
    merged: dict[str, Any] = {}
    for base in bases:
        merged = merge_trees(merged, read_config_tree(path.parent / base, (*_seen, path)))
    return merge_trees(merged, tree)


def apply_overrides(
    tree: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A copy of a config tree with flag ``values`` (``None``: not given) and then ``--set`` strings applied,
    not yet validated (the first step of :func:`build_config`, for callers that keep the tree)."""
    merged: dict[str, Any] = _deep_copy(dict(tree or {}))
    for key, value in (values or {}).items():
        if value is not None:
            set_dotted(merged, resolve_key(key), value)
    for text in overrides:
        set_dotted(merged, *parse_override(text))
    return merged


def build_config(
    tree: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    values: Mapping[str, Any] | None = None,
    source: str = "config",
) -> Config:
    """Validate a config tree after applying ``--set`` strings and already-parsed values.

    Args:
        tree: nested mapping, e.g. from YAML.
        overrides: ``key.path=value`` strings (aliases allowed).
        values: ``{dotted key or alias: value}``; ``None`` values are skipped (unset CLI flags).
        source: name used in error messages (the YAML file).

    Raises:
        ConfigError: naming each bad key, its value and what is allowed.
    """
    merged = migrate_tree(apply_overrides(tree, overrides, values), source)
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from None


def load_config(
    path: str | Path | None = None, overrides: Iterable[str] = (), values: Mapping[str, Any] | None = None
) -> Config:
    """Load a YAML config (or the defaults), apply overrides and validate it."""
    tree = read_config_tree(path) if path else {}
    return build_config(tree, overrides, values, source=str(path) if path else "config")


def migrate_tree(tree: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Rename the keys of older configs in place (one deprecation line each): ``model.freeze_backbone: true``
    is ``model.freeze: backbone`` (false: ``none``)."""
    model = tree.get("model")
    if isinstance(model, dict) and "freeze_backbone" in model:
        old = model.pop("freeze_backbone")
        if isinstance(old, bool) and "freeze" not in model:
            model["freeze"] = "backbone" if old else "none"
            log.warning(
                "%s: model.freeze_backbone is deprecated; read as model.freeze: %s", source, model["freeze"]
            )
        else:  # not a bool, or both keys: let validation name the key
            model["freeze_backbone"] = old
    return tree


def config_to_dict(cfg: BaseModel) -> dict[str, Any]:
    """Plain, YAML-safe dict of a config (tuples become lists)."""
    return cfg.model_dump(mode="json")


def config_yaml(cfg: BaseModel) -> str:
    """The resolved config as YAML text, keys in schema order (what ``config.yaml`` holds)."""
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def save_config(cfg: Config, path: str | Path) -> Path:
    """Write the resolved config as YAML."""
    path = Path(path)
    with atomic_write(path) as handle:  # an interrupted or failed write keeps the previous file
        handle.write(config_yaml(cfg))
    return path


def describe_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: ``source: key = value: message (allowed: ...)``."""
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "literal["))]
        key = ".".join(loc)
        value = err.get("input")
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            message = f"unknown key (allowed: {', '.join(allowed)})" if allowed else "unknown key"
            if loc and loc[-1] in ALIASES:
                message += f"; did you mean {ALIASES[loc[-1]]}?"
        shown = _short(value)
        lines.append(f"{source}: {key} = {shown}: {message}")
    return "invalid configuration\n  " + "\n  ".join(lines)


def _allowed_keys(loc: list[str]) -> list[str]:
    model: Any = Config
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if model is None:
            return []
    return list(model.model_fields)


def _short(value: Any) -> str:
    return quote(value)


def _deep_copy(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _deep_copy(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_deep_copy(v) for v in tree]
    return tree
