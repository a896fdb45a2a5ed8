"""Reading YAML that a user gave: a size cap, and an alias-expansion budget checked before any Python object.

PyYAML builds an alias as a second reference to the anchored value, so a 1 KB document of nested aliases (a
"billion laughs") loads as a small graph and explodes later, when anything walks it as a tree (a deep copy, a
validation, the ``repr`` in an error message). :func:`load_yaml` composes the document's node graph, counts how
many values its aliases (merge keys ``<<`` included) would add once expanded, and refuses it past
:data:`MAX_ALIAS_EXPANSION` (or when an alias refers to a value that contains it) before the constructor runs.
"""

from __future__ import annotations

import reprlib
from typing import Any

import yaml

from medclass.utils.errors import ConfigError

# Config, grid and search-space files are a few KB; a run's config.yaml is about 5 KB.
MAX_YAML_BYTES = 1 << 20
# Values that aliases may add to a document once expanded (a few reused sections add dozens).
MAX_ALIAS_EXPANSION = 100_000


class _Refused(Exception):
    """The node graph of a document is refused: its message completes ``"<source>: "``."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a graph whose expanded tree has more than :data:`MAX_ALIAS_EXPANSION` values beyond its distinct
    nodes, or that holds a cycle; iterative, so a deep document cannot exhaust the stack here."""
    cap = 10 * MAX_ALIAS_EXPANSION  # sizes are clipped: a bomb's are astronomically large
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            sizes[key] = min(cap, 1 + sum(sizes[id(child)] for child in _children(node)))
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise _Refused("an alias refers to a value that contains it (a recursive structure)")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    if sizes[id(root)] - len(sizes) > MAX_ALIAS_EXPANSION:
        raise _Refused(
            f"its aliases expand to more than {MAX_ALIAS_EXPANSION:,} values (an alias bomb?); "
            "write the values out or reuse fewer"
        )


class _BudgetLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that checks the composed node graph before constructing Python objects."""

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        _check_expansion(node)
        return node


def load_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load(text)`` within the alias budget.

    Args:
        text: The document.
        source: What the messages name first, e.g. ``"config file a.yaml"`` or ``"--set model.kwargs"``.

    Raises:
        ConfigError: ``"<source>: its aliases expand to more than 100,000 values ..."``, a recursive alias, or
            a document nested too deeply to parse.
        yaml.YAMLError: not valid YAML (the caller words it).
    """
    try:
        return yaml.load(text, Loader=_BudgetLoader)  # a SafeLoader
    except _Refused as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to read") from None


def clip(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` characters (``...`` marks a cut): what an error message may quote."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple, _REPR.maxset = 3, 6, 6, 6, 6
_REPR.maxstring = _REPR.maxother = 80


def quote(value: Any, limit: int = 80) -> str:
    """At most ``limit`` characters of ``repr(value)``, built without formatting the whole of a large value:
    how an error message shows a value it refuses."""
    return clip(_REPR.repr(value), limit)
